"""The hot path: a fetched batch of ``player-events`` records folded into write-back state, and
the flush that makes it durable in the only safe order.

``Batcher.process`` is synchronous: decode each record, ``Processor.advance`` it, ``apply``
the step to the write-back caches (``streams.writeback``: the next event and every live
read see it at once), queue its milestone/session records. Nothing is durable yet and no
offset is acknowledged. ``flush`` then, for everything folded in since the previous flush:

1. sends its records (``emit``: all at once, so they leave in a few whole batches instead of
   lingering in many small ones) and waits until Kafka has acknowledged them;
2. stores the written values (RocksDB + changelog, ``Sink.store``);
3. only then acknowledges the source offsets, so Faust's commit (which flushes the producer
   first) never moves past an event whose state and records are not durable.

A crash anywhere in between re-reads the events: before 2 they re-emit the same records (same
ids), after 2 they are no-ops on state that already holds them (and ``Replays`` rewrites
their keys, see docs/stream-worker.md). A failed flush keeps everything for the next one.
One flush runs at a time; while it waits for Kafka the next batches fold into the pending
layer (``kick``), up to ``max_backlog`` events: what live reads show never waits for what is
durable unless Kafka falls that far behind (about a second of events at full rate).
Flushes begin at least ``min_flush_gap_s`` apart (``WATCHFLOW_FLUSH_INTERVAL_S``) while events
keep coming: a key changed by several events in between is stored once, and each flush's fixed
costs (a RocksDB batch and a changelog batch per table and partition) are paid less often.
Once nothing has been folded for ``QUIET_S`` the flush goes without waiting longer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from ingest_api.contract import (
    TOPIC_DEAD_LETTER,
    TOPIC_MILESTONES,
    TOPIC_SESSIONS,
    EraseRequest,
)
from streams import records
from streams.latency import HotPathStats
from streams.processor import Processor, Step
from streams.records import BadRecord
from streams.writeback import WriteBack

log = logging.getLogger("watchflow.worker")

# A flush waiting out its interval goes at once when nothing was folded for this long: the
# input has gone quiet (caught up, or a lull), so waiting would add nothing to it.
QUIET_S = 0.02


class Record(Protocol):
    """A consumed Kafka record (aiokafka's ``ConsumerRecord`` has these)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes


class Sink(Protocol):
    """Where a flush puts things (Kafka and RocksDB in the worker, fakes in tests)."""

    async def send(self, outputs: Sequence[Output]) -> Awaitable[object]:
        """Start producing ``outputs``; the result completes once Kafka has acknowledged all
        of them (and fails if any could not be produced)."""

    async def store(
        self, writes: Mapping[str, Mapping[bytes, bytes]], offsets: Mapping[Any, tuple[int, int]]
    ) -> Awaitable[object]:
        """Write ``{table: {key: value}}`` (the state of source ``offsets``) to the local store
        and queue its changelog records; the result completes once Kafka has acknowledged
        them."""

    def ack(self, offsets: Mapping[Any, tuple[int, int]]) -> None:
        """Mark source offsets ``first..last`` (per topic-partition) processed and durable."""


def outputs_of(step: Step) -> list[Output]:
    out = [
        Output(TOPIC_MILESTONES, m.user_id.encode(), records.milestone_bytes(m))
        for m in step.milestones
    ]
    out += [
        Output(TOPIC_SESSIONS, s.user_id.encode(), records.session_bytes(s)) for s in step.sessions
    ]
    return out


class Batcher:
    def __init__(
        self,
        proc: Processor,
        stores: Mapping[str, WriteBack],
        sink: Sink,
        maybe_replayed: Callable[[Any, int], bool],  # true for the offsets up to a mark
        max_backlog: int = 20_000,
        min_flush_gap_s: float = 0.0,
        stats: HotPathStats | None = None,
        after_flush: Callable[[], None] | None = None,  # called once a flush is done
    ) -> None:
        self.proc = proc
        self.stores = stores
        self.sink = sink
        self.maybe_replayed = maybe_replayed
        self.max_backlog = max_backlog
        self.min_flush_gap_s = min_flush_gap_s
        self.after_flush = after_flush
        self._flush_began = float("-inf")
        self._folded = 0  # events folded so far (only ever grows)
        self._outputs: list[Output] = []  # queued, not sent yet
        self._sent: list[tuple[list[Output], asyncio.Future[None]]] = []  # maybe not acked
        self._acks: dict[Any, tuple[int, int]] = {}
        self._backlog = 0  # events processed since the last flush began
        self._lock = asyncio.Lock()
        self._task: asyncio.Future[None] | None = None
        self.stats = stats if stats is not None else HotPathStats()
        self._oldest_ts: int | None = None  # Kafka timestamp (ms) of the oldest unflushed event

    @property
    def backlog(self) -> int:
        return self._backlog

    @property
    def folded(self) -> int:
        """Events folded so far (only ever grows)."""
        return self._folded

    def process(self, tp: Any, batch: Sequence[Record]) -> None:
        """Fold ``batch`` (consecutive records of one partition) into the write-back state."""
        if not batch:
            return
        proc, partition, outputs = self.proc, tp.partition, self._outputs
        decode, fold, apply = records.decode_event, proc.step, proc.apply
        # The maybe-replayed offsets of a partition are those up to a mark: if the batch's
        # first record is past it, so are all the others.
        replays = self.maybe_replayed(tp, batch[0].offset)
        ts = getattr(batch[0], "timestamp", None)
        if ts is not None and (self._oldest_ts is None or ts < self._oldest_ts):
            self._oldest_ts = ts
        for rec in batch:
            try:
                ev = decode(rec.key, rec.value)
            except BadRecord as exc:
                self._dead_letter(rec, exc.error)
                continue
            try:
                rewrite = replays and self.maybe_replayed(tp, rec.offset)
                step = fold(ev, partition, rewrite=rewrite)
            except Exception as exc:  # a model bug must not stall the partition forever
                log.exception("event could not be processed")
                self._dead_letter(rec, f"processing: {exc!r}")
                continue
            if step.erased is not None:
                log.info(
                    "user erased from live state",
                    extra={
                        "erasure_id": cast(EraseRequest, ev).erasure_id,
                        "videos": len(step.erased_videos),
                    },
                )
            if step.milestones or step.sessions:
                outputs += outputs_of(step)
            apply(step)
        first = self._acks.get(tp, (batch[0].offset, 0))[0]
        self._acks[tp] = (first, batch[-1].offset)
        self._backlog += len(batch)
        self._folded += len(batch)

    def sweep(self, partition: int) -> int:
        """Close the idle sessions of ``partition`` (into the write-back); sessions closed."""
        step = self.proc.sweep(partition)
        if step is None:
            return 0
        self._outputs += outputs_of(step)
        self.proc.apply(step)
        return len(step.sessions)

    def _dead_letter(self, rec: Record, error: str) -> None:
        log.warning(
            "record dead-lettered",
            extra={"partition": rec.partition, "offset": rec.offset, "error": error},
        )
        value = records.dead_letter(
            error,
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
            key=rec.key,
            value=rec.value,
        )
        self._outputs.append(Output(TOPIC_DEAD_LETTER, rec.key, value))

    @property
    def dirty(self) -> bool:
        return bool(
            self._outputs or self._sent or self._acks or any(len(s) for s in self.stores.values())
        )

    def emit(self) -> None:
        """Start sending the queued records now; the next flush waits for their
        acknowledgement (registered before anything is awaited)."""
        if self._outputs:
            outputs, self._outputs = self._outputs, []
            self._sent.append((outputs, asyncio.ensure_future(self._deliver(outputs))))

    async def _deliver(self, outputs: list[Output]) -> None:
        await (await self.sink.send(outputs))

    async def flush(self) -> None:
        """Make everything processed so far durable, then acknowledge it (see module doc)."""
        async with self._lock:
            if not self.dirty:
                return
            self.emit()
            sent, self._sent = self._sent, []
            acks, self._acks = self._acks, {}
            self._backlog = 0
            oldest, self._oldest_ts = self._oldest_ts, None
            events = sum(last - first + 1 for first, last in acks.values())
            writes = {name: wb.begin() for name, wb in self.stores.items()}
            stats, t0 = self.stats, self.stats.clock()
            try:
                await asyncio.gather(*(delivered for _, delivered in sent))
                t1 = stats.clock()
                changelog = await self.sink.store({n: w for n, w in writes.items() if w}, acks)
                t2 = stats.clock()
            except BaseException:
                if oldest is not None and (self._oldest_ts is None or oldest < self._oldest_ts):
                    self._oldest_ts = oldest
                # Keep it all for the next flush; offsets stay unacknowledged meanwhile.
                for wb in self.stores.values():
                    wb.abort()
                # Sent again (same ids) by the next flush: any of them may be lost.
                self._outputs[:0] = [o for outputs, _ in sent for o in outputs]
                for tp, (first, last) in acks.items():
                    later = self._acks.get(tp)
                    self._acks[tp] = (first, later[1] if later else last)
                raise
            for wb in self.stores.values():
                wb.done()
            self.sink.ack(acks)
            stats.flushed(t0, t1, t2, events, oldest, changelog)
            if self.after_flush is not None:
                self.after_flush()

    async def drain(self) -> None:
        """Flush until nothing is left (the running flush first)."""
        while self.dirty or (self._task is not None and not self._task.done()):
            if self._task is not None and not self._task.done():
                await asyncio.shield(self._task)
            else:
                await asyncio.shield(self.flush())

    async def kick(self) -> None:
        """Have a flush running in the background; wait for it when too much is pending.

        A failed flush raises here (its work stays pending and is retried next time)."""
        task = self._task
        if task is not None and task.done():
            self._task = None
            task.result()
        if self._task is None:
            self._task = asyncio.ensure_future(self._flush_all())
        if self._backlog >= self.max_backlog:
            await asyncio.shield(self._task)

    async def _flush_all(self) -> None:
        loop = asyncio.get_running_loop()
        while self.dirty:
            await self._turn(loop)
            self._flush_began = loop.time()
            await self.flush()

    async def _turn(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until ``min_flush_gap_s`` after the previous flush began, or until nothing has
        been folded for ``QUIET_S``."""
        due = self._flush_began + self.min_flush_gap_s
        seen = self._folded
        while (now := loop.time()) < due:
            await asyncio.sleep(min(QUIET_S, due - now))
            if self._folded == seen:
                return
            seen = self._folded
