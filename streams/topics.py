"""The pipeline's Kafka topics: which exist, with how many partitions and which settings.

One helper for every process that may be the first to start (the stream worker, the sink):
auto-create is off on our brokers, and a topic created by whoever comes first must look the
same whoever that was (same partition count, the catalog compacted).
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from ingest_api.contract import TOPIC_CONFIGS, TOPIC_PLAYER_EVENTS, pipeline_topics
from ingest_api.publisher import ensure_topics


class TopicMismatch(Exception):
    """player-events does not have the partition count the worker was configured with."""

    def __init__(self, actual: int, configured: int) -> None:
        super().__init__(
            f"{TOPIC_PLAYER_EVENTS} has {actual} partitions but WATCHFLOW_PARTITIONS={configured}:"
            " a user's events, tables and changelogs must share partition numbers"
        )
        self.actual, self.configured = actual, configured


async def prepare_topics(bootstrap: str, partitions: int, *, check: bool = True) -> None:
    """Create the pipeline's missing topics (the contract's ``TOPIC_CONFIGS`` apply) and, with
    ``check``, raise ``TopicMismatch`` unless player-events has ``partitions`` partitions."""
    await ensure_topics(bootstrap, pipeline_topics(partitions), configs=TOPIC_CONFIGS)
    if not check:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        described = await admin.describe_topics([TOPIC_PLAYER_EVENTS])
    finally:
        await admin.close()
    actual = len(described[0]["partitions"])
    if actual != partitions:
        raise TopicMismatch(actual, partitions)
