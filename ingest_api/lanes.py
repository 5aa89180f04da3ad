"""Shared producer batches: every concurrent request fills the same open batch per partition.

aiokafka accepts one queued batch per partition; handing it one batch per *request* makes
concurrent requests queue behind each other (and trips its add_batch timeout arithmetic).
A ``Lane`` instead keeps one open batch per partition that all requests append to, and a
single drain task that sends the sealed batches one after another — so the batch grows while
the previous one is in flight, as Nagle's algorithm would, with no linger to wait out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

_NO_HEADERS: list[tuple[str, bytes]] = []  # never mutated: the builder only reads it


class Lane:
    """The open batch and send queue of one topic-partition."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partition: int) -> None:
        self.producer = producer
        self.topic = topic
        self.partition = partition
        self._batch: Any = None
        self._done: asyncio.Future[None] | None = None
        self._sealed: deque[tuple[Any, asyncio.Future[None]]] = deque()
        self._drain: asyncio.Task[None] | None = None

    def add_many(
        self, records: Sequence[tuple[bytes, bytes]], timestamp_ms: int
    ) -> list[asyncio.Future[None]]:
        """Append records; each returned future resolves when Kafka acknowledged a batch
        holding some of them (one future per batch they went into)."""
        if self._batch is None or self._done is None:
            self._open()
        assert self._done is not None
        waits = [self._done]
        # aiokafka's BatchBuilder.append wraps the C record builder in a Python method that
        # costs ~1.5 µs a record; this loop calls the builder itself and keeps BatchBuilder's
        # record count, which send_batch reads, as BatchBuilder.append would.
        batch = self._batch
        builder = batch._builder
        offset = batch._relative_offset
        for key, value in records:
            if builder.append(offset, timestamp_ms, key, value, _NO_HEADERS) is None:
                batch._relative_offset = offset
                batch.close()
                self._sealed.append((batch, self._done))
                self._open()
                waits.append(self._done)
                batch = self._batch
                builder = batch._builder
                offset = 0
                if builder.append(offset, timestamp_ms, key, value, _NO_HEADERS) is None:
                    raise ValueError(f"a record of {len(value)} bytes exceeds the batch size")
            offset += 1
        batch._relative_offset = offset
        return waits

    def kick(self) -> None:
        """Make sure something is sending what this lane holds."""
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_task(self._run())

    def fail_pending(self, exc: BaseException) -> None:
        """Fail every batch not yet handed to the producer (the broker went away)."""
        pending = list(self._sealed)
        self._sealed.clear()
        if self._done is not None:
            pending.append((self._batch, self._done))
            self._batch = self._done = None
        for _, done in pending:
            _settle(done, exc)

    async def cancel(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain

    def _open(self) -> None:
        self._batch = self.producer.create_batch()
        self._done = asyncio.get_running_loop().create_future()

    async def _run(self) -> None:
        while True:
            if self._sealed:
                batch, done = self._sealed.popleft()
            elif self._done is not None:
                batch, done = self._batch, self._done
                self._batch = self._done = None
            else:
                return
            try:
                delivered = await self.producer.send_batch(
                    batch, self.topic, partition=self.partition
                )
                await delivered
            except Exception as exc:  # every waiter of this batch learns why
                _settle(done, exc)
            else:
                if not done.done():
                    done.set_result(None)


def _settle(done: asyncio.Future[None], exc: BaseException) -> None:
    if not done.done():
        done.set_exception(exc)
        # Waiters may have given up already (timeout); don't warn about an unseen exception.
        done.exception()
