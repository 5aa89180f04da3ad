"""The stream: fetched batches -> decode -> model (``Processor``) -> write-back -> flush.

``player-events`` is consumed in the batches Kafka fetches (``bulk.BatchConsumer``), not one
Faust stream event at a time; each batch is folded into write-back state (``batch.Batcher``)
and flushed in the background: the step's milestone and session records acknowledged by
Kafka first, then the state (one RocksDB write and changelog batch per partition), then the
offsets acknowledged to Faust, whose commit flushes the producer before it commits. A timer
closes idle sessions by the event-time watermark through the same path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import faust
from faust.types import TP

from ingest_api.contract import (
    TOPIC_DEAD_LETTER,
    TOPIC_MILESTONES,
    TOPIC_PLAYER_EVENTS,
    TOPIC_SESSIONS,
)
from streams import bulk, tables
from streams.batch import Batcher, Record
from streams.collector import Collector
from streams.processor import Processor
from streams.writeback import WriteBack

log = logging.getLogger("watchflow.worker")


class Replays:
    """Which offsets a crashed (or moved) run may already have processed.

    RocksDB is written before the changelog records are acknowledged, so after a crash the
    local state can be ahead of the changelog; re-read events are then no-ops that would
    leave the changelog behind. Each flush notes in RocksDB, before its state, the last
    source offset it stores (``tables.mark_stored_through``); when a partition is first read
    after an assignment, offsets up to that note are "maybe replayed": their no-op steps
    rewrite the keys they touch (see docs/stream-worker.md). A backlog this worker never
    stored is not replayed, and costs no rewrites.
    """

    def __init__(self, stored_through: Callable[[int], int | None]) -> None:
        self._stored_through = stored_through
        self._until: dict[TP, int] = {}

    def maybe_replayed(self, tp: TP, offset: int) -> bool:
        until = self._until.get(tp)
        if until is None:
            mark = self._stored_through(tp.partition)
            until = self._until[tp] = -1 if mark is None else mark
        return offset <= until

    def reset(self) -> None:
        self._until.clear()


CHUNK = 100  # events folded between two turns of the event loop


def _timestamp(recs: Sequence[Record]) -> int | None:
    """The Kafka timestamp (ms) of the first record, if records carry one."""
    return getattr(recs[0], "timestamp", None) if recs else None


def in_turns(
    batches: Sequence[tuple[TP, Sequence[Record]]], size: int
) -> list[tuple[TP, Sequence[Record]]]:
    """The fetch as chunks of up to ``size`` records: every partition's first chunk, then
    every partition's second, and so on; each partition's records stay in offset order.

    A fetch holds about the same stretch of time of every partition, so this folds it
    roughly oldest first. Partition after partition, the first records of the last
    partition (as old as the first of the first) would wait for the whole fetch: at 70 %
    of the worker's rate a fetch takes about as long to fold as it took to arrive.
    """
    chunked = [[recs[i : i + size] for i in range(0, len(recs), size)] for _, recs in batches]
    return [
        (tp, chunks[turn])
        for turn in range(max(map(len, chunked), default=0))
        for (tp, _), chunks in zip(batches, chunked, strict=True)
        if turn < len(chunks)
    ]


class EventBatches:
    """``bulk.Handler`` of player-events: waits for the catalog, then feeds the batcher."""

    topic = TOPIC_PLAYER_EVENTS

    def __init__(self, batcher: Batcher, catalog_ready: asyncio.Event) -> None:
        self.batcher = batcher
        self.catalog_ready = catalog_ready

    async def ready(self) -> None:
        await self.catalog_ready.wait()

    async def handle(
        self, batches: Sequence[tuple[TP, Sequence[Record]]], current: Callable[[], bool]
    ) -> None:
        """Fold a fetch in, oldest first: the partitions' chunks in turns (see ``in_turns``).

        Yields to the loop between chunks, so reads, the producer and the flush run."""
        stats = self.batcher.stats
        stamps = [ts for _, recs in batches if (ts := _timestamp(recs)) is not None]
        t0 = stats.fetched(sum(len(recs) for _, recs in batches), min(stamps, default=None))
        since_yield = 0
        for tp, chunk in in_turns(batches, CHUNK):
            if since_yield >= CHUNK:
                # Let the producer and the web server run; stop if a rebalance began
                # meanwhile (the rest is not acknowledged: its next owner reads it).
                await asyncio.sleep(0)
                if not current():
                    await self.batcher.kick()
                    return
                since_yield = 0
            self.batcher.process(tp, chunk)
            since_yield += len(chunk)
            stats.visible(_timestamp(chunk))
        stats.folded(t0)
        await self.batcher.kick()

    async def drain(self) -> None:
        await self.batcher.drain()


def write_back(t: tables.Tables) -> dict[str, WriteBack]:
    """The write-back caches the processor writes into, by table name."""
    return {tb.name: WriteBack(tables.RawStore(tb)) for tb in t.all}


def install(
    app: faust.App,
    proc: Processor,
    t: tables.Tables,
    stores: dict[str, WriteBack],
    catalog_ready: asyncio.Event,
    sweep_every_s: float,
    flush_interval_s: float = 0.0,
    fetch: bulk.FetchLimits | None = None,
) -> Batcher:
    """Wire the batch consumer, the flush, the idle sweep and the assignment hooks on ``app``.

    ``proc`` must write into ``stores`` (``write_back(t)``)."""
    events = app.topic(
        TOPIC_PLAYER_EVENTS,
        key_serializer="raw",
        value_serializer="raw",
        partitions=proc.partitions,
    )
    app.topics.add(events)  # subscribed through Faust; its records go to the batch handler
    replays = Replays(lambda p: tables.stored_through(t.videos, p))
    sink = bulk.TableSink(app, {tb.name: tb for tb in t.all}, proc.partitions, t.videos)
    collector = Collector(time.monotonic())
    batcher = Batcher(
        proc,
        stores,
        sink,
        replays.maybe_replayed,
        min_flush_gap_s=flush_interval_s,
        after_flush=collector.flushed,
    )
    batcher.stats.watch_gc()  # the worker's process: one Batcher, for its whole life
    bulk.install_consumer(app, EventBatches(batcher, catalog_ready), fetch)
    held: set[int] = set()

    @app.timer(sweep_every_s)  # type: ignore[untyped-decorator]
    async def close_idle_sessions() -> None:
        if app.rebalancing:
            return
        for p in proc.open.partitions():
            closed = batcher.sweep(p)
            if closed:
                log.info("idle sessions closed", extra={"partition": p, "sessions": closed})
        await batcher.kick()

    @app.timer(1.0)  # type: ignore[untyped-decorator]
    async def collect_garbage() -> None:
        """The full collection ``streams.collector`` defers to a quiet moment."""
        t0 = time.monotonic()
        collected = collector.tick(t0, batcher.folded)
        if collected is not None:
            log.info(
                "garbage collected in full",
                extra={"objects": collected, "ms": round((time.monotonic() - t0) * 1000, 1)},
            )

    @app.task  # type: ignore[untyped-decorator]
    async def declare_outputs() -> None:
        # auto.create.topics.enable=false: Faust does not create topics it only produces to.
        for name in (TOPIC_MILESTONES, TOPIC_SESSIONS, TOPIC_DEAD_LETTER):
            await app.topic(name, partitions=proc.partitions).maybe_declare()

    async def on_recovered() -> None:
        """After each rebalance: index newly held partitions, forget the ones given away."""
        active = {
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == events.topics[0]
        }
        for p in held - active:
            proc.forget(p)
        for p in sorted(active - held):
            found = proc.index(p, tables.local_items(t.videos, p))
            log.info("partition indexed", extra={"partition": p, "open_sessions": found})
        held.clear()
        held.update(active)
        replays.reset()
        # What exists now (the app, the catalog, the indexed states) lives long: collect the
        # garbage of the rebalance, then keep the rest out of the collector's scans.
        collector.full(time.monotonic())

    t.videos.on_recover(on_recovered)

    @app.page("/stats/hot-path")
    async def hot_path_stats(web: Any, request: Any) -> Any:
        """Quantiles of the hot path's timings (``streams.latency``) since ``?since=``."""
        try:
            since = float(request.query.get("since", 0))
        except ValueError:
            since = 0.0
        return web.json(batcher.stats.summary(since))

    return batcher
