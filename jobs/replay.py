"""``watchflow replay``: rebuild the stream workers' state from the Kafka log (SPEC §8).

The workers' state is a fold over ``player-events`` and ``catalog``; replaying is starting
that fold again from the oldest record the log still holds. With every worker stopped:

1. the consumer group of the workers (``WATCHFLOW_APP_ID``) is set back to the beginning of
   ``player-events`` and ``catalog``;
2. their tables' changelog topics (``<app id>-*-changelog``) are deleted, so a restarted worker
   does not restore the old state from them;
3. their local RocksDB directories (``<data dir>/worker-*``) are deleted.

The next ``watchflow worker`` then rebuilds everything. Milestone and session records come
out again with the ids they had, so the sink stores each once; tier 2 is recomputed from
tier 1 by ``watchflow rollup --full --once`` (``replay --tables`` runs it).

Only what the log still holds is replayed: events older than ``player-events``' retention are
gone from Kafka (the warehouse keeps them), and the plan says from when the log starts.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from ingest_api.contract import TOPIC_CATALOG, TOPIC_PLAYER_EVENTS

SOURCE_TOPICS = (TOPIC_PLAYER_EVENTS, TOPIC_CATALOG)


class ReplayRefused(Exception):
    """Replaying now would corrupt state (a worker is running) or cannot start."""


@dataclass
class StatePlan:
    """What ``reset_state`` will do, worked out without changing anything."""

    group: str
    changelogs: list[str]
    state_dirs: list[Path]
    # Per source partition: (first offset still in the log, end offset).
    offsets: dict[TopicPartition, tuple[int, int]] = field(default_factory=dict)
    log_starts_at: datetime | None = None  # when the oldest player-event still held was written

    def lines(self) -> list[str]:
        events = sum(
            end - first
            for tp, (first, end) in self.offsets.items()
            if tp.topic == TOPIC_PLAYER_EVENTS
        )
        since = (
            f"the oldest written at {self.log_starts_at.isoformat()}"
            if self.log_starts_at
            else "the log is empty"
        )
        return [
            f"consumer group {self.group!r}: back to the beginning of "
            f"{', '.join(SOURCE_TOPICS)} ({events:,} player events, {since})",
            f"changelog topics to delete: {', '.join(self.changelogs) or 'none'}",
            "local state to delete: " + (", ".join(str(d) for d in self.state_dirs) or "none"),
        ]


async def plan_state(
    bootstrap: str, group: str, data_dir: Path, timeout_s: float = 10.0
) -> StatePlan:
    """The plan, or ReplayRefused if any member of ``group`` is still running."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        members = await _active_members(admin, group)
        if members:
            raise ReplayRefused(
                f"consumer group {group!r} has {members} active member(s): stop every "
                "`watchflow worker` first (a running worker would keep writing the state "
                "this replay is about to delete)"
            )
        topics = await admin.list_topics()
        missing = [t for t in SOURCE_TOPICS if t not in topics]
        if missing:
            raise ReplayRefused(f"topics {', '.join(missing)} do not exist: nothing to replay")
        tps = await source_partitions(admin)
    finally:
        await admin.close()
    plan = StatePlan(
        group=group,
        changelogs=sorted(
            t for t in topics if t.startswith(f"{group}-") and t.endswith("-changelog")
        ),
        state_dirs=state_dirs(data_dir),
    )
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        first = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        plan.offsets = {tp: (first[tp], end[tp]) for tp in tps}
        plan.log_starts_at = await _oldest(
            consumer,
            [tp for tp in tps if tp.topic == TOPIC_PLAYER_EVENTS and end[tp] > first[tp]],
            first,
        )
    finally:
        await consumer.stop()
    return plan


async def reset_state(bootstrap: str, plan: StatePlan, timeout_s: float = 30.0) -> None:
    """Carry ``plan`` out: group offsets to the beginning, changelogs and local state gone."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        if await _active_members(admin, plan.group):
            raise ReplayRefused(
                f"a member joined consumer group {plan.group!r}: nothing was changed"
            )
        await _commit_beginnings(bootstrap, plan)
        if plan.changelogs:
            await admin.delete_topics(plan.changelogs)
            await _until_gone(admin, set(plan.changelogs), timeout_s)
    finally:
        await admin.close()
    for d in plan.state_dirs:
        shutil.rmtree(d)


async def source_partitions(admin: AIOKafkaAdminClient) -> list[TopicPartition]:
    """Every partition of the topics the workers consume."""
    described = await admin.describe_topics(list(SOURCE_TOPICS))
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        for p in sorted(t["partitions"], key=lambda p: p["partition"])
    ]


def state_dirs(data_dir: Path) -> list[Path]:
    """The workers' local state directories (``WorkerSettings.state_dir`` of each worker id)."""
    return sorted(p for p in data_dir.resolve().glob("worker-*") if p.is_dir())


async def _active_members(admin: AIOKafkaAdminClient, group: str) -> int:
    described = await admin.describe_consumer_groups([group])
    count = 0
    for response in described:
        for g in response.groups:
            # (error_code, group_id, state, protocol_type, protocol, members, ...)
            count += len(g[5])
    return count


async def _commit_beginnings(bootstrap: str, plan: StatePlan) -> None:
    # A consumer of the (now empty) group that never joins it: an explicit commit from it is
    # what the broker stores as the group's position.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=plan.group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(plan.offsets))
        await consumer.commit(
            {tp: OffsetAndMetadata(first, "") for tp, (first, _) in plan.offsets.items()}
        )
    finally:
        await consumer.stop()


async def _oldest(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], first: dict[TopicPartition, int]
) -> datetime | None:
    """The timestamp of the oldest record among the first records of ``tps``."""
    if not tps:
        return None
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, first[tp])
    oldest: int | None = None
    remaining = set(tps)
    for _ in range(20):
        batch = await consumer.getmany(timeout_ms=500, max_records=len(tps) * 10)
        for tp, records in batch.items():
            if tp in remaining and records:
                remaining.discard(tp)
                ts = records[0].timestamp
                oldest = ts if oldest is None else min(oldest, ts)
                consumer.pause(tp)
        if not remaining:
            break
    return datetime.fromtimestamp(oldest / 1000, UTC) if oldest is not None else None


async def _until_gone(admin: AIOKafkaAdminClient, topics: set[str], timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while topics & set(await admin.list_topics()):
        if loop.time() > deadline:
            raise ReplayRefused(f"the broker did not delete {', '.join(sorted(topics))} in time")
        await asyncio.sleep(0.2)
