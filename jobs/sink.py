"""``watchflow sink``: the Kafka topics -> tier 1 of the warehouse, exactly once in effect.

The loop: fetch records, decode them into a ``Batch`` (``jobs.sink_batch``), and when the batch
is due, ``write_batch`` it (one atomic warehouse commit), and only then commit the batch's Kafka
offsets. A crash before the warehouse commit loses nothing (the records are read again); a crash
between the two commits reads them again too, and ``write_batch`` drops them as duplicates by id.
So whatever moment the process dies at, every record lands in tier 1 once.

An erase request on player-events (``ingest_api.contract.EraseRequest``, published by
``watchflow erase-user``) is carried out in log order: it closes the batch in hand, whose rows of
that user are dropped unwritten (``Batch.add``); the batch is written, then
``warehouse.erase.erase_user`` removes the user's rows already stored, and only then are the
offsets (the request's included) committed. A crash in between reads the request again and
erases again, which is idempotent; rows of the user after the request are in the next batch and
stay. ``erase_user`` takes the ``rollup`` lock and then the ``manifest`` lock for its commits,
while ``write_batch`` takes only the ``manifest`` lock and releases it before returning: the sink
never holds one warehouse lock while asking for the other, so it cannot deadlock with itself
(the erase may wait for a running rollup, up to the lock timeout, and is retried after that).

SIGINT/SIGTERM finish the batch in hand (write, commit) and exit 0.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import duckdb
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from jobs.settings import SinkSettings
from jobs.sink_batch import SINK_TOPICS, TP, Batch, Erasure, SinkStats, lag
from streams.topics import prepare_topics
from warehouse.erase import EraseReport, erase_user
from warehouse.errors import ManifestError, WarehouseError
from warehouse.store import Store
from warehouse.tier1 import WriteResult, write_batch

log = logging.getLogger("watchflow.sink")

_RETRY_MAX_S = 10.0
_ATTEMPTS_WHILE_STOPPING = 3
T = TypeVar("T")


class Consumer(Protocol):
    """The slice of ``AIOKafkaConsumer`` the sink uses (a fake is a page of code)."""

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]: ...

    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


class Sink:
    """One sink loop over a consumer and a warehouse; ``stop()`` ends it after a last flush."""

    def __init__(
        self,
        consumer: Consumer,
        store: Store,
        settings: SinkSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        write: Callable[..., WriteResult] = write_batch,
        erase: Callable[[Store, str], EraseReport] = erase_user,
    ) -> None:
        self.consumer = consumer
        self.store = store
        self.settings = settings
        self.clock = clock
        self._write = write
        self._erase = erase
        self.batch = Batch()
        self.stats = SinkStats()
        self._stopping = asyncio.Event()
        self._flushing = asyncio.Lock()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, report: Callable[[SinkStats], Awaitable[None]] | None = None) -> SinkStats:
        """Consume until ``stop()``; then write and commit what is in hand."""
        s = self.settings
        poll_ms = int(min(s.sink_batch_seconds, 0.5) * 1000)
        last_report = self.clock()
        while not self._stopping.is_set():
            fetched = await self.consumer.getmany(
                timeout_ms=poll_ms, max_records=self.batch.room(s.sink_batch_records)
            )
            now = self.clock()
            for tp, records in fetched.items():
                for r in records:
                    got = self.batch.add(tp.topic, tp.partition, r.offset, r.key, r.value, now=now)
                    if got is None:
                        continue
                    if isinstance(got, Erasure):
                        # Nothing after the request may join this batch: it would be erased too.
                        await self.flush()
                        continue
                    log.warning(
                        "skipped a record that does not decode",
                        extra={
                            "topic": tp.topic,
                            "partition": tp.partition,
                            "offset": r.offset,
                            "error": got.error,
                        },
                    )
            if self.batch.due(now, s.sink_batch_records, s.sink_batch_seconds):
                await self.flush()
            if report is not None and now - last_report >= s.sink_stats_seconds:
                last_report = now
                await report(self.stats)
        await self.flush()
        return self.stats

    async def flush(self) -> None:
        """Write the batch in hand, carry out its erasures, then commit exactly its offsets."""
        async with self._flushing:
            batch, self.batch = self.batch, Batch()
            if not batch.offsets:
                return
            result = await self._write_with_retries(batch)
            for erasure in batch.erasures:
                erase = functools.partial(self._erase, self.store, erasure.request.user_id)
                report = await self._with_retries(erase, "erase")
                log.info("user erased from the warehouse", extra=_erasure_extra(erasure, report))
            self.stats.add(batch, result)
            offsets = {TopicPartition(t, p): o for (t, p), o in batch.offsets.items()}
            try:
                await self.consumer.commit(offsets)
            except KafkaError as exc:
                # Already in the warehouse: a redelivery of these records is a no-op.
                self.stats.commits_failed += 1
                log.warning(
                    "offsets not committed; records will be re-read, then deduplicated",
                    extra={"error": repr(exc)},
                )
            log.debug("batch written", extra=_batch_extra(batch, result))

    async def _write_with_retries(self, batch: Batch) -> WriteResult:
        return await self._with_retries(
            lambda: self._write(
                self.store,
                events=batch.events,
                milestones=batch.milestones,
                sessions=batch.sessions,
                catalog=batch.catalog,
            ),
            "write",
        )

    async def _with_retries(self, change: Callable[[], T], what: str) -> T:
        """Run a warehouse change in a thread until it succeeds (nothing is committed to Kafka
        meanwhile); raise a terminal error, or a transient one when stopping takes too long."""
        delay, attempts = 0.5, 0
        while True:
            attempts += 1
            try:
                return await asyncio.to_thread(change)
            except ManifestError:
                raise  # terminal: an operator has to look at the warehouse
            except (WarehouseError, OSError, duckdb.IOException) as exc:
                # Transient (a lock held too long, a concurrent compaction, a full disk being
                # cleared, DuckDB failing to write a Parquet file): retry without committing.
                # While stopping, give up after a few tries: nothing was committed, so the
                # next run reads these records again.
                if self._stopping.is_set() and attempts >= _ATTEMPTS_WHILE_STOPPING:
                    raise
                log.warning(
                    f"warehouse {what} failed, retrying",
                    extra={"error": repr(exc), "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)


def _erasure_extra(erasure: Erasure, report: EraseReport) -> dict[str, object]:
    req = erasure.request
    return {
        "user_id": req.user_id,
        "erasure_id": req.erasure_id,
        "requested_at": req.requested_at.isoformat(),
        "topic": erasure.topic,
        "partition": erasure.partition,
        "offset": erasure.offset,
        "batch_rows_dropped": erasure.dropped,
        "tier1_rows": report.tier1_rows,
        "tier2_rows": report.tier2_rows,
        "files_rewritten": report.files_rewritten,
    }


def _batch_extra(batch: Batch, result: WriteResult) -> dict[str, object]:
    return {
        "records": batch.records,
        "bad": batch.bad,
        "erasures": len(batch.erasures),
        "written": result.written,
        "duplicates": result.duplicates,
        "version": result.version,
    }


class _FlushOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before partitions move to another sink process, write and commit what we hold of them."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.sink.flush()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"partitions": len(assigned)})


async def _report(consumer: AIOKafkaConsumer, stats: SinkStats) -> None:
    highwater: dict[TP, int | None] = {}
    position: dict[TP, int] = {}
    for tp in consumer.assignment():
        highwater[(tp.topic, tp.partition)] = consumer.highwater(tp)
        try:
            position[(tp.topic, tp.partition)] = await consumer.position(tp)
        except (KafkaError, AssertionError):  # not fetched yet, or moved away meanwhile
            continue
    log.info("sink progress", extra={**stats.as_dict(), "lag": lag(highwater, position)})


async def _main(settings: SinkSettings) -> int:
    await prepare_topics(settings.kafka_bootstrap, settings.partitions, check=False)
    store = await asyncio.to_thread(Store.open, settings.data_dir, settings.warehouse_config())
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.sink_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    sink = Sink(consumer, store, settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, sink.stop)
    consumer.subscribe(list(SINK_TOPICS), listener=_FlushOnRevoke(sink))
    await consumer.start()
    log.info(
        "sink started",
        extra={"group": settings.sink_group, "topics": SINK_TOPICS, "warehouse": str(store.root)},
    )
    try:
        stats = await sink.run(lambda st: _report(consumer, st))
    finally:
        await consumer.stop()
    log.info("sink stopped", extra=stats.as_dict())
    return 0


def run(settings: SinkSettings) -> int:
    """Run the sink until SIGINT/SIGTERM; the process exit code."""
    try:
        return asyncio.run(_main(settings))
    except ManifestError as exc:
        log.error("the warehouse cannot be used", extra={"error": str(exc)})
        return 2
    except WarehouseError as exc:
        log.error(
            "stopped with a batch not written; it is read again on restart",
            extra={"error": str(exc)},
        )
        return 1
