"""Events in and out of the pipeline and each consumer group's lag, read from Kafka itself.

Every record the API acknowledged is counted by the topic's end offsets, and every consumer
(the stream workers' group, the sink's) by its committed offsets, so one scrape of the API's
``/metrics`` shows the whole pipeline: what came in, what the workers put out, how far
behind each consumer is. Read at most every ``ttl_s``, so scrapes cost Kafka almost nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Gauge


class PipelineStats:
    def __init__(
        self,
        bootstrap: str,
        *,
        topics: Sequence[str],
        groups: Sequence[str],
        registry: CollectorRegistry,
        ttl_s: float = 2.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.groups = list(groups)
        self.ttl_s = ttl_s
        self._at = 0.0
        self._lock = asyncio.Lock()
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.records = Gauge(
            "watchflow_topic_records",
            "Records ever written to a pipeline topic (sum of end offsets): events in and out",
            ["topic"],
            registry=registry,
        )
        self.lag = Gauge(
            "watchflow_consumer_lag",
            "Records a consumer group has yet to commit, per topic",
            ["group", "topic"],
            registry=registry,
        )

    async def refresh(self) -> None:
        """Update the gauges unless they are fresher than ``ttl_s``; quiet if Kafka is away."""
        async with self._lock:
            if time.monotonic() - self._at < self.ttl_s:
                return
            try:
                await asyncio.wait_for(self._read(), timeout=3.0)
                self._at = time.monotonic()
            except (KafkaError, OSError, TimeoutError):
                await self.close()  # reconnect on the next scrape

    async def _read(self) -> None:
        if self._admin is None or self._consumer is None:
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await self._admin.start()
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
            await self._consumer.start()
        described = await self._admin.describe_topics(self.topics)
        partitions = [
            TopicPartition(topic["topic"], part["partition"])
            for topic in described
            if topic.get("error_code", 0) == 0
            for part in topic["partitions"]
        ]
        if not partitions:
            return
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(partitions)
        for topic in self.topics:
            self.records.labels(topic).set(sum(o for tp, o in ends.items() if tp.topic == topic))
        for group in self.groups:
            committed = await self._admin.list_consumer_group_offsets(group)
            for topic in self.topics:
                done = {tp: m.offset for tp, m in committed.items() if tp.topic == topic}
                if done:
                    behind = sum(max(0, ends.get(tp, o) - o) for tp, o in done.items())
                    self.lag.labels(group, topic).set(behind)

    async def close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                with contextlib.suppress(KafkaError, OSError):
                    await (
                        client.stop() if isinstance(client, AIOKafkaConsumer) else client.close()
                    )
        self._admin = self._consumer = None
