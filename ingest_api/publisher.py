"""Publishing to Kafka: the one place the API touches the broker.

``Publisher`` is the interface routes depend on; ``KafkaPublisher`` is the real thing (an
idempotent aiokafka producer with acks=all). ``publish`` returns only after Kafka has
acknowledged every record, or raises ``BrokerUnavailable`` and the caller acknowledges
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from ingest_api.contract import TOPIC_CONFIGS
from ingest_api.errors import BrokerUnavailable
from ingest_api.lanes import Lane

log = logging.getLogger(__name__)

Record = tuple[bytes, bytes]  # (key, value)


class Publisher(Protocol):
    @property
    def available(self) -> bool: ...

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        """Return once Kafka acknowledged every record; raise BrokerUnavailable otherwise."""
        ...


class KafkaPublisher:
    """An idempotent acks=all producer that fails fast while the broker is away.

    Records of all concurrent requests share one open batch per partition (``Lane``). After
    a failed or timed-out publish it stops accepting work and probes the cluster every
    ``probe_interval_s``; the first successful metadata request makes it available again.
    More than ``max_pending_records`` awaiting acknowledgement is answered 503 at once.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        topics: dict[str, int],
        produce_timeout_s: float = 5.0,
        probe_interval_s: float = 1.0,
        linger_ms: int = 0,
        max_pending_records: int = 200_000,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.produce_timeout_s = produce_timeout_s
        self.probe_interval_s = probe_interval_s
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._available = False
        self._partitions: dict[str, list[int]] = {}
        self._partition_of: dict[str, dict[bytes, int]] = {}
        self._probe: asyncio.Task[None] | None = None
        self._topics_ready = False
        self._lanes: dict[tuple[str, int], Lane] = {}
        self._pending = 0
        self.max_pending_records = max_pending_records

    @property
    def available(self) -> bool:
        return self._available

    async def start(self) -> None:
        """Start the producer in the background: the API serves (503) until Kafka answers."""
        self._probe = asyncio.create_task(self._reconnect_loop(), name="kafka-reconnect")

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        for lane in self._lanes.values():
            await lane.cancel()
        if self._producer is not None:
            with contextlib.suppress(KafkaError, TimeoutError):
                await asyncio.wait_for(self._producer.stop(), timeout=self.produce_timeout_s)
        self._available = False

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        producer = self._producer
        if not self._available or producer is None:
            raise BrokerUnavailable(retry_after_s=self.probe_interval_s * 2)
        if self._pending + len(records) > self.max_pending_records:
            # Overloaded: a fast 503 now beats a queue that times everyone out later.
            raise BrokerUnavailable(retry_after_s=1.0)
        now = int(time.time() * 1000)
        waits: set[asyncio.Future[None]] = set()
        for partition, group in self._by_partition(topic, records).items():
            lane = self._lane(producer, topic, partition)
            waits.update(lane.add_many(group, now))
            lane.kick()
        self._pending += len(records)
        try:
            # asyncio.wait, not wait_for(gather): the futures are shared with every request
            # whose records joined the same batches, and a gather that times out would
            # cancel them for all of those requests too.
            done, pending = await asyncio.wait(waits, timeout=self.produce_timeout_s)
            failed = next((f.exception() for f in done if f.exception() is not None), None)
            if pending or failed is not None:
                raise failed or TimeoutError(f"no ack within {self.produce_timeout_s:g} s")
        except (KafkaError, TimeoutError) as exc:
            self._mark_unavailable(exc)
            raise BrokerUnavailable(retry_after_s=self.probe_interval_s * 2) from exc
        finally:
            self._pending -= len(records)

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        lanes, self._lanes = self._lanes, {}
        for lane in lanes.values():
            lane.fail_pending(KafkaError("producer replaced"))
            await lane.cancel()
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=self.produce_timeout_s)

    def _lane(self, producer: AIOKafkaProducer, topic: str, partition: int) -> Lane:
        lane = self._lanes.get((topic, partition))
        if lane is None:
            lane = self._lanes[(topic, partition)] = Lane(producer, topic, partition)
        return lane

    def _by_partition(self, topic: str, records: Sequence[Record]) -> dict[int, list[Record]]:
        """``records`` grouped by partition, in order. The partitioner is the Java client's
        murmur2, as Faust and every other consumer of the topic expect; it is pure Python, so
        each key's partition is remembered."""
        known = self._partition_of.get(topic)
        if known is None or len(known) > 1_000_000:
            known = self._partition_of[topic] = {}
        partitions = self._partitions[topic]
        groups: dict[int, list[Record]] = {}
        for record in records:
            p = known.get(record[0])
            if p is None:
                p = known[record[0]] = partitions[
                    (murmur2(record[0]) & 0x7FFFFFFF) % len(partitions)
                ]
            group = groups.get(p)
            if group is None:
                groups[p] = [record]
            else:
                group.append(record)
        return groups

    def _mark_unavailable(self, exc: BaseException) -> None:
        if self._available:
            log.warning("kafka unavailable, answering 503 until it is back: %r", exc)
        self._available = False
        for lane in self._lanes.values():
            lane.fail_pending(exc)

    async def _reconnect_loop(self) -> None:
        while True:
            if not self._available:
                try:
                    await self._connect()
                    self._available = True
                    log.info("kafka available at %s", self.bootstrap)
                except (TimeoutError, KafkaError, OSError) as exc:
                    log.debug("kafka still unavailable: %r", exc)
            await asyncio.sleep(self.probe_interval_s)

    async def _connect(self) -> None:
        if self._producer is not None and _sender_dead(self._producer):
            # aiokafka's sender task died (its error is then sticky for every later send):
            # probing metadata on it would succeed forever while every publish fails.
            await self._drop_producer()
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=self._linger_ms,
                max_batch_size=256 * 1024,
                max_request_size=2 * 1024 * 1024,
                request_timeout_ms=int(self.produce_timeout_s * 1000),
                retry_backoff_ms=100,
            )
            try:
                await asyncio.wait_for(producer.start(), timeout=self.produce_timeout_s)
            except BaseException:
                with contextlib.suppress(Exception):  # don't leak a half-started producer
                    await asyncio.wait_for(producer.stop(), timeout=self.produce_timeout_s)
                raise
            self._producer = producer
        else:
            await asyncio.wait_for(
                self._producer.client.fetch_all_metadata(), timeout=self.produce_timeout_s
            )
        if not self._topics_ready:
            await ensure_topics(self.bootstrap, self.topics, timeout_s=self.produce_timeout_s)
            self._topics_ready = True
        for topic in self.topics:
            parts = await self._producer.partitions_for(topic)
            self._partitions[topic] = sorted(parts)


def _sender_dead(producer: AIOKafkaProducer) -> bool:
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    return task is not None and task.done()


async def ensure_topics(
    bootstrap: str,
    topics: dict[str, int],
    *,
    timeout_s: float = 10.0,
    configs: dict[str, dict[str, str]] | None = None,
) -> None:
    """Create the topics that do not exist yet, with the given partition counts and the
    contract's topic settings (``TOPIC_CONFIGS``) unless ``configs`` says otherwise."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    await asyncio.wait_for(admin.start(), timeout=timeout_s)
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=name,
                num_partitions=n,
                replication_factor=1,
                topic_configs=(TOPIC_CONFIGS if configs is None else configs).get(name, {}),
            )
            for name, n in topics.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()
