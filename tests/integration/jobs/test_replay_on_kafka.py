"""``watchflow replay`` on a real broker: the workers' group goes back to the start of the log,
their changelogs and local state are gone, and nothing is touched while a worker runs.

Each test uses a consumer group (app id) of its own; the source topics are the session's."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from ingest_api.contract import TOPIC_PLAYER_EVENTS
from jobs.replay import ReplayRefused, plan_state, reset_state, source_partitions
from streams.topics import prepare_topics
from tests.support.kafka import produce

pytestmark = pytest.mark.integration


async def _committed(
    bootstrap: str, group: str, tps: list[TopicPartition]
) -> dict[TopicPartition, int | None]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) for tp in tps}
    finally:
        await consumer.stop()


async def _a_worker_that_ran(bootstrap: str, group: str, data_dir: Path) -> list[TopicPartition]:
    """What a worker leaves behind: offsets committed at the end of the log, a changelog
    topic, a state directory."""
    await prepare_topics(bootstrap, 4, check=False)  # the session may have made them first
    await produce(bootstrap, TOPIC_PLAYER_EVENTS, [(b"u-%d" % i, b"{}") for i in range(20)])
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        tps = await source_partitions(admin)
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        await consumer.commit({tp: OffsetAndMetadata(end[tp], "") for tp in tps})
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{group}-videos-changelog", 4, 1)])
    finally:
        await admin.close()
    (data_dir / "worker-0" / "tables").mkdir(parents=True)
    (data_dir / "worker-0" / "tables" / "videos.db").write_bytes(b"state")
    return tps


def test_replay_sends_the_workers_back_to_the_start_of_the_log_with_no_state(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    group = f"replay-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        tps = await _a_worker_that_ran(kafka_bootstrap, group, tmp_path)
        plan = await plan_state(kafka_bootstrap, group, tmp_path)
        assert plan.changelogs == [f"{group}-videos-changelog"]
        assert plan.state_dirs == [(tmp_path / "worker-0").resolve()]
        assert plan.log_starts_at is not None  # the plan says from when the log holds events
        assert any("player events" in line for line in plan.lines())

        await reset_state(kafka_bootstrap, plan)

        committed = await _committed(kafka_bootstrap, group, tps)
        assert committed == {tp: plan.offsets[tp][0] for tp in tps}  # the first offset held
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            assert f"{group}-videos-changelog" not in await admin.list_topics()
        finally:
            await admin.close()
        assert not (tmp_path / "worker-0").exists()

    asyncio.run(scenario())


def test_replay_refuses_while_a_worker_of_the_group_runs_and_changes_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    group = f"replay-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        tps = await _a_worker_that_ran(kafka_bootstrap, group, tmp_path)
        before = await _committed(kafka_bootstrap, group, tps)
        running = AIOKafkaConsumer(
            TOPIC_PLAYER_EVENTS, bootstrap_servers=kafka_bootstrap, group_id=group,
            enable_auto_commit=False,
        )  # fmt: skip
        await running.start()
        try:
            await running.getmany(timeout_ms=3000)  # joined and assigned
            with pytest.raises(ReplayRefused, match=f"{group}.*active member"):
                await plan_state(kafka_bootstrap, group, tmp_path)
        finally:
            await running.stop()
        assert await _committed(kafka_bootstrap, group, tps) == before
        assert (tmp_path / "worker-0" / "tables" / "videos.db").exists()

    asyncio.run(scenario())
