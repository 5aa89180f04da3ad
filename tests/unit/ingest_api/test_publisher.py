"""The publisher's shared batches: one request's fate never decides another's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ingest_api.errors import BrokerUnavailable
from ingest_api.publisher import KafkaPublisher


class FakeBatch:
    def __init__(self) -> None:
        self.records: list[bytes] = []

    def append(self, *, key: bytes, value: bytes, timestamp: float) -> object:
        self.records.append(value)
        return object()


class FakeProducer:
    """Hands out batches; each send is acknowledged when the test says so."""

    def __init__(self) -> None:
        self.sent: list[FakeBatch] = []
        self.acks: list[asyncio.Future[None]] = []

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
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
    assert [batch.records for batch in producer.sent] == [[b"a", b"b"]]
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
