"""Reading what landed in Kafka, for assertions in integration tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord


async def consume_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    *,
    timeout_s: float = 30.0,
    keep: Callable[[ConsumerRecord[bytes, bytes]], bool] = lambda r: True,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` from the beginning until ``done(kept records)`` or the timeout."""
    consumer: AIOKafkaConsumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    kept: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not done(kept):
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                kept.extend(r for r in records if keep(r))
        return kept
    finally:
        await consumer.stop()


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def produce(bootstrap: str, topic: str, rows: Iterable[tuple[bytes, bytes]]) -> None:
    """Records straight onto ``topic``, partitioned by key as the API and the workers do."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futs = [await producer.send(topic, key=k, value=v) for k, v in rows]
        await asyncio.gather(*futs)
    finally:
        await producer.stop()
