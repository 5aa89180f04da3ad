"""Faust adapters of the batch hot path (``streams.batch``): how batches come in, how a
flush goes out.

**In.** ``BatchConsumer`` is Faust's aiokafka consumer with one change: the records of the
*batch topic* (player-events) that a fetch returns are handed, a partition's list at a time,
to a handler instead of being turned one by one into Faust messages, events and stream
iterations (that path costs ~80-95 µs per event here). Every other topic (changelogs of
standby replicas) takes Faust's usual path. Group membership, assignment, recovery, offset
commits and rebalances stay Faust's: the handler acknowledges offsets into Faust's own
bookkeeping (``ack_range``), and ``wait_empty`` (what Faust awaits before committing on a
rebalance or a stop) first drains the handler's flushes.

**Out.** ``TableSink`` writes a flush: records produced (closed aiokafka batches, so they do
not linger) and awaited; each table's values one RocksDB ``WriteBatch`` per partition plus
the same records on its changelog in closed aiokafka batches, whose acknowledgement advances
the persisted changelog offset as Faust's own ``table[k] = v`` does. This subclasses Faust
internals (the consumer's ``getmany``, ``_acked`` bookkeeping, its thread's
``_create_worker_consumer``, ``Store._db_for_partition``) and uses aiokafka's (the
producer's ``_partition`` and ``client._wait_on_metadata``, the consumer's fetch limits):
re-check them when upgrading either.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import faust
import rocksdict
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams import tables
from streams.batch import Output, Record


class Handler(Protocol):
    topic: str

    async def ready(self) -> None:
        """Return once batches can be handled."""

    async def handle(
        self, batches: Sequence[tuple[TP, Sequence[Record]]], current: Callable[[], bool]
    ) -> None:
        """Fold ``batches`` in; ``current()`` turns false once a rebalance has begun."""

    async def drain(self) -> None: ...


@dataclass(frozen=True)
class FetchLimits:
    """How long the broker may hold a fetch back (``fetch.max.wait.ms``) until it has how many
    bytes for it (``fetch.min.bytes``). Faust has no setting for either (it passes 1.5 s and
    leaves aiokafka's 1 byte): under steady load a fetch then came back with whatever a
    millisecond or two had brought, and each one's fixed costs (the consumer thread's round
    trip, the hand-over to the loop) kept the worker near a full core at 70 % of its rate
    (docs/stream-worker.md, "Latency at 70 %")."""

    max_wait_ms: int
    min_bytes: int


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        limits: FetchLimits | None = getattr(transport, "fetch", None)
        if limits is not None:
            # aiokafka reads these when the consumer starts (its Fetcher is made then).
            consumer._fetch_max_wait_ms = limits.max_wait_ms
            consumer._fetch_min_bytes = limits.min_bytes
        return consumer


class BatchConsumer(faust_aiokafka.Consumer):
    @property
    def handler(self) -> Handler | None:
        return getattr(self.transport, "handler", None)

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> Any:  # noqa: ASYNC109 (Faust's signature)
        handler = self.handler
        generation_id = self.app.consumer_generation_id
        records, active = await self._wait_next_records(timeout)
        if records is None or self.should_stop:
            return
        if self.app.consumer_generation_id != generation_id:
            return  # fetched before a rebalance: the new owners read these from their offsets
        if not self.flow_active:
            await self.perform_seek()
            return
        if handler is not None:
            mine = [
                (tp, recs)
                for tp, recs in records.items()
                if tp.topic == handler.topic
                and (active is None or tp in active or tp in self._buffered_partitions)
            ]
            if mine:
                # Only now: changelog recovery and standbys take the path below meanwhile.
                await handler.ready()
                if not self._current(generation_id):
                    # A rebalance began while waiting: unacknowledged, so read again by
                    # whoever owns them next (as Faust does with records of a stopped flow).
                    if self.app.consumer_generation_id == generation_id:
                        await self.perform_seek()
                    return
                records = {tp: r for tp, r in records.items() if tp.topic != handler.topic}
                await handler.handle(mine, lambda: self._current(generation_id))
                now = time.monotonic()
                for tp, recs in mine:
                    if recs:
                        self._read_offset[tp] = recs[-1].offset
                        self.app.monitor.stream_inbound_time[tp] = now
        to_message = self._to_message
        for tp, record in self.scheduler.iterate(records):
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                break
            if active is None or tp in active or tp in self._buffered_partitions:
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                yield tp, to_message(tp, record)

    def _current(self, generation_id: int) -> bool:
        return self.flow_active and self.app.consumer_generation_id == generation_id

    def ack_range(self, tp: TP, first: int, last: int) -> None:
        """Acknowledge offsets ``first..last`` of ``tp`` at once (``Consumer.ack`` for each).

        Offsets never seen in between (none in a plain topic) are acknowledged too, so a
        hole cannot hold back the commit."""
        committed = self._committed_offset[tp]
        if committed is not None:
            first = max(first, committed)
        if first > last:
            return
        index = self._acked_index[tp]
        new = [o for o in range(first, last + 1) if o not in index]
        index.update(new)
        self._acked[tp].extend(new)
        self._n_acked += len(new)

    async def wait_empty(self) -> None:
        if self.handler is not None:
            await self.handler.drain()
        await super().wait_empty()


class BatchTransport(faust_aiokafka.Transport):
    Consumer = BatchConsumer
    handler: Handler | None = None
    fetch: FetchLimits | None = None


def install_consumer(app: faust.App, handler: Handler, fetch: FetchLimits | None = None) -> None:
    """Make ``app`` consume through ``BatchConsumer`` with ``handler`` (and ``fetch``, else
    aiokafka's fetch limits as Faust sets them); call before anything uses the consumer."""
    if getattr(app, "_consumer", None) is not None:
        raise RuntimeError("the app's consumer exists already")
    transport = BatchTransport(app.conf.broker_consumer, app)
    transport.handler = handler
    transport.fetch = fetch
    app.transport = transport


def ack_range(app: faust.App, tp: TP, first: int, last: int) -> None:
    """``BatchConsumer.ack_range`` on ``app``'s consumer."""
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    consumer.ack_range(tp, first, last)


class TableSink:
    """``batch.Sink`` over the worker's Faust tables (RocksDB) and producer.

    Everything goes to Kafka as whole aiokafka batches, *closed* before they are queued: a
    closed batch is sent at the producer's next turn instead of lingering
    (``producer_linger``) for records that will not come, since a flush hands over all it has
    at once. Kafka picks the partition of a record as ``producer.send`` would (aiokafka's
    partitioner over the topic's metadata), so a key's records keep their partition."""

    def __init__(
        self, app: faust.App, by_name: Mapping[str, Any], partitions: int, marks: Any
    ) -> None:
        self.app = app
        self.tables = by_name
        self.partitions = partitions
        self.marks = marks  # the table whose RocksDB notes the offsets stored through
        self._known: set[str] = set()  # topics whose metadata the producer has

    def _kafka(self) -> Any:
        return cast(Any, self.app.producer)._ensure_producer()  # aiokafka's producer

    async def send(self, outputs: Sequence[Output]) -> Awaitable[object]:
        kafka = self._kafka()
        by_tp: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = {}
        for o in outputs:
            if o.topic not in self._known:
                await kafka.client._wait_on_metadata(o.topic)
                self._known.add(o.topic)
            p = kafka._partition(o.topic, None, o.key, o.value, o.key, o.value)
            by_tp.setdefault((o.topic, p), []).append((o.key, o.value))
        futs: list[asyncio.Future[Any]] = []
        for (topic, p), kvs in by_tp.items():
            futs += [fut for fut, _ in await _send_closed(kafka, topic, p, kvs)]
        return asyncio.gather(*futs)

    async def store(
        self, writes: Mapping[str, Mapping[bytes, bytes]], offsets: Mapping[Any, tuple[int, int]]
    ) -> Awaitable[object]:
        acked: list[asyncio.Future[Any]] = []
        for tp, (_, last) in offsets.items():
            tables.mark_stored_through(self.marks, tp.partition, last)
        kafka = self._kafka()
        n = self.partitions
        for name, items in writes.items():
            table = self.tables[name]
            store = table.data
            by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
            for key, value in items.items():
                p = tables.partition_of(tables.user_of(key), n)
                by_partition.setdefault(p, []).append((key, value))
            topic = table.changelog_topic.get_topic_name()
            for p, kvs in by_partition.items():
                wb = rocksdict.WriteBatch(raw_mode=True)
                for key, value in kvs:
                    if value:
                        wb.put(key, value)
                    else:  # writeback.DELETED: gone, and a tombstone on the changelog
                        wb.delete(key)
                store._db_for_partition(p).write(wb)
                sent = [(k, v or None) for k, v in kvs]
                for fut, count in await _send_closed(kafka, topic, p, sent):
                    fut.add_done_callback(_persisted(store, TP(topic, p), count))
                    acked.append(fut)
                # One partition at a time: events fold (and reads answer) in between, so a
                # flush of thousands of states does not hold the loop for tens of ms.
                await asyncio.sleep(0)
        return asyncio.gather(*acked)

    def ack(self, offsets: Mapping[Any, tuple[int, int]]) -> None:
        for tp, (first, last) in offsets.items():
            ack_range(self.app, tp, first, last)


def _persisted(store: Any, tp: TP, count: int) -> Callable[[asyncio.Future[Any]], None]:
    """Once a changelog batch of ``count`` records is acknowledged, advance the offset Faust
    persists for ``tp`` (as its own ``table[k] = v`` does)."""

    def done(fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            store.set_persisted_offset(tp, fut.result().offset + count - 1)

    return done


async def _send_closed(
    kafka: Any, topic: str, p: int, kvs: Sequence[tuple[bytes | None, bytes | None]]
) -> list[tuple[asyncio.Future[Any], int]]:
    """Queue ``kvs`` on ``topic``/``p`` as closed aiokafka batches; each batch's future (its
    acknowledgement, with the batch's base offset) and how many records it holds."""
    sent: list[tuple[asyncio.Future[Any], int]] = []
    batch, count = kafka.create_batch(), 0
    for key, value in kvs:
        if batch.append(key=key, value=value, timestamp=None) is None:  # full
            batch.close()
            sent.append((await kafka.send_batch(batch, topic, partition=p), count))
            batch, count = kafka.create_batch(), 0
            batch.append(key=key, value=value, timestamp=None)
        count += 1
    batch.close()
    sent.append((await kafka.send_batch(batch, topic, partition=p), count))
    return sent
