"""The publisher's shared batches: one request's fate never decides another's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from ingest_api.errors import BrokerUnavailable
from ingest_api.publisher import KafkaPublisher


def values_of(batch: BatchBuilder) -> list[bytes]:
    """The record values of a batch, read back as a consumer would."""
    records = DefaultRecordBatch(bytearray(batch._build()))
    return [bytes(r.value) for r in records]


class FakeProducer:
    """Hands out batches; each send is acknowledged when the test says so."""

    def __init__(self) -> None:
        self.sent: list[BatchBuilder] = []
        self.acks: list[asyncio.Future[None]] = []

    def create_batch(self) -> BatchBuilder:
        # aiokafka's own batch: the lanes write to its record builder directly.
        return BatchBuilder(16 * 1024, compression_type=0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        self.sent.append(batch)
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


def _publisher(producer: FakeProducer, timeout_s: float = 5.0) -> KafkaPublisher:
    pub = KafkaPublisher("unused:9092", topics={"t": 1}, produce_timeout_s=timeout_s)
    pub._producer = producer  # type: ignore[assignment]
    pub._available = True
    pub._partitions = {"t": [0]}
    return pub


async def test_requests_sharing_a_batch_are_acknowledged_together_once_kafka_acks() -> None:
    producer = FakeProducer()
    pub = _publisher(producer)
    a = asyncio.create_task(pub.publish("t", [(b"u1", b"a")]))
    b = asyncio.create_task(pub.publish("t", [(b"u2", b"b")]))
    await asyncio.sleep(0.05)
    assert not a.done()
    assert not b.done()
    assert [values_of(batch) for batch in producer.sent] == [[b"a", b"b"]]
    producer.acks[0].set_result(None)
    await asyncio.gather(a, b)


async def test_one_request_giving_up_does_not_fail_another_in_the_same_batch() -> None:
    producer = FakeProducer()
    pub = _publisher(producer)
    a = asyncio.create_task(pub.publish("t", [(b"u1", b"a")]))
    b = asyncio.create_task(pub.publish("t", [(b"u2", b"b")]))
    await asyncio.sleep(0.05)
    a.cancel()  # a client that went away, or a handler cancelled for any reason
    await asyncio.sleep(0.05)
    producer.acks[0].set_result(None)
    await b  # acknowledged, not cancelled along with a
    with pytest.raises(asyncio.CancelledError):
        await a


async def test_no_ack_in_time_is_broker_unavailable_and_later_requests_fail_fast() -> None:
    producer = FakeProducer()
    pub = _publisher(producer, timeout_s=0.1)
    with pytest.raises(BrokerUnavailable):
        await pub.publish("t", [(b"u1", b"a")])
    assert not pub.available
    with pytest.raises(BrokerUnavailable):
        await pub.publish("t", [(b"u1", b"b")])
    assert len(producer.sent) == 1


async def test_a_failed_send_is_broker_unavailable_for_its_requests() -> None:
    from aiokafka.errors import KafkaTimeoutError

    producer = FakeProducer()
    pub = _publisher(producer)
    a = asyncio.create_task(pub.publish("t", [(b"u1", b"a")]))
    await asyncio.sleep(0.05)
    producer.acks[0].set_exception(KafkaTimeoutError())
    with pytest.raises(BrokerUnavailable):
        await a


async def test_a_request_larger_than_a_batch_spans_batches_in_order_and_waits_for_all() -> None:
    producer = FakeProducer()
    pub = _publisher(producer)
    values = [b"event-%04d-" % i + b"x" * 200 for i in range(300)]  # ~65 KiB: 5 batches
    task = asyncio.create_task(pub.publish("t", [(b"u1", v) for v in values]))
    await _until(lambda: len(producer.acks) >= 1)
    producer.acks[0].set_result(None)  # batches go one at a time: the next follows this ack
    await _until(lambda: len(producer.acks) >= 2)
    assert not task.done()  # the first batch's ack is not the whole request's
    while not task.done():
        for ack in producer.acks:
            if not ack.done():
                ack.set_result(None)
        await asyncio.sleep(0.01)
    await task
    assert len(producer.sent) > 2
    sent = [values_of(batch) for batch in producer.sent]
    assert [v for batch in sent for v in batch] == values
    offsets = [[r.offset for r in DefaultRecordBatch(bytearray(b._build()))] for b in producer.sent]
    assert all(o == list(range(len(o))) for o in offsets)  # each batch numbered from 0


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")
