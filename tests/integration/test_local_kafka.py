"""The local broker is a real Kafka: it answers metadata, keeps records produced the way the
ingest API produces them, creates the topics faust needs, and starts and stops predictably."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from watchflow.kafka_errors import BrokerStartError, PortInUseError
from watchflow.kafka_host import free_port
from watchflow.local_kafka import LocalKafka

pytestmark = pytest.mark.integration


def fresh(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def create_topic(bootstrap: str, topic: NewTopic) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([topic])
        assert [error[1] for error in response.topic_errors] == [0]
    finally:
        await admin.close()


async def test_broker_answers_metadata(kafka_bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    assert [broker["node_id"] for broker in cluster["brokers"]] == [1]
    assert cluster["controller_id"] == 1
    assert len(cluster["cluster_id"]) == 22


async def test_idempotent_acks_all_record_is_consumed_by_a_group(kafka_bootstrap: str) -> None:
    topic = fresh("round-trip")
    await create_topic(kafka_bootstrap, NewTopic(topic, 8, 1))
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b'{"type":"start"}', key=b"user-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=fresh("group"),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (record.key, record.value, record.partition) == (
        b"user-1",
        b'{"type":"start"}',
        sent.partition,
    )


async def test_transactional_producer_commits(kafka_bootstrap: str) -> None:
    # faust's processing_guarantee="exactly_once" needs the transaction coordinator.
    topic = fresh("txn")
    await create_topic(kafka_bootstrap, NewTopic(topic, 1, 1))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=fresh("tx"))
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, b"v", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert record.value == b"v"


async def test_creates_topic_with_eight_partitions(kafka_bootstrap: str) -> None:
    topic = fresh("player-events")
    await create_topic(kafka_bootstrap, NewTopic(topic, 8, 1))
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert sorted(p["partition"] for p in described["partitions"]) == list(range(8))


async def test_creates_compacted_changelog_topic(kafka_bootstrap: str) -> None:
    topic = fresh("app-table-changelog")
    compacted = NewTopic(topic, 8, 1, topic_configs={"cleanup.policy": "compact"})
    await create_topic(kafka_bootstrap, compacted)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    entries: dict[str, str] = {}
    try:
        # A new topic's configs can lag its creation by a moment: poll, don't sleep.
        for _ in range(50):
            [response] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, {"cleanup.policy": None})]
            )
            entries = {entry[0]: entry[1] for entry in response.resources[0][4]}
            if entries:
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    assert entries["cleanup.policy"] == "compact"


async def test_unknown_topics_are_not_auto_created(kafka_bootstrap: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=1000)
    await producer.start()
    try:
        with pytest.raises(KafkaError):
            await producer.send_and_wait(fresh("typo"), b"v")
    finally:
        await producer.stop()


def broker_pids(broker: LocalKafka) -> list[int]:
    """Processes whose command line runs the broker of this directory."""
    config = str(broker.dir / "server.properties").encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"kafka.Kafka" in args and config in args:
                pids.append(int(proc.name))
    return pids


def test_up_twice_is_harmless_and_down_stops_the_broker(tmp_path: Path, kafka_jars: Path) -> None:
    broker = LocalKafka(tmp_path, kafka_jars, port=0)
    first = broker.up()
    try:
        again = LocalKafka(tmp_path, kafka_jars, port=0).up()
        assert again == first
        [pid] = broker_pids(broker)
        assert json.loads((broker.dir / "broker.json").read_text())["pid"] == pid
    finally:
        assert broker.down() is True
    assert broker_pids(broker) == []
    assert not (broker.dir / "broker.json").exists()
    assert broker.down() is False


def test_taken_port_is_reported_before_starting(tmp_path: Path, kafka_jars: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalKafka(tmp_path, kafka_jars, port=port)
        with pytest.raises(
            PortInUseError, match=f"127.0.0.1:{port} is already in use by a process"
        ):
            broker.up()
    assert broker.status() is None


def test_invalid_setting_fails_with_the_format_output(tmp_path: Path, kafka_jars: Path) -> None:
    broker = LocalKafka(tmp_path, kafka_jars, port=0, overrides={"num.io.threads": "many"})
    with pytest.raises(BrokerStartError, match=r"formatting .* failed") as failure:
        broker.up()
    assert "Invalid value many for configuration num.io.threads" in failure.value.log_tail
    assert broker.status() is None


def test_broker_that_cannot_bind_fails_with_its_log_tail(tmp_path: Path, kafka_jars: Path) -> None:
    # The port is free when up() checks it and taken when the JVM binds: a lost race, staged
    # by listening on a port that only the overridden listeners mention.
    controller_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        listeners = f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
        broker = LocalKafka(
            tmp_path,
            kafka_jars,
            port=0,
            controller_port=controller_port,
            overrides={"listeners": listeners},
        )
        with pytest.raises(BrokerStartError, match="exited during startup") as failure:
            broker.up()
    assert "failed to bind to 127.0.0.1:" in failure.value.errors
    assert "Address already in use" in str(failure.value)
    assert f"last lines of {broker.log_path}" in str(failure.value)
    assert broker.status() is None
    assert broker_pids(broker) == []
