"""What the local-broker helper decides without running Java: the broker's configuration, the
cluster id, Java and port checks, the one-time jar download, and forgetting a broker that is
gone without ever signalling a process that is not the broker."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from watchflow.local_kafka import (
    KAFKA_VERSION,
    BrokerStartError,
    JarFetchError,
    JavaUnavailableError,
    LocalKafka,
    PortInUseError,
    check_java,
    fetch_jars,
    jar_dir,
    jars_ready,
    java_major_version,
    kafka_down,
    new_cluster_id,
    port_is_free,
    server_properties,
)


def parse_properties(text: str) -> dict[str, str]:
    """Read .properties the way java.util.Properties does, for the subset we write."""
    props = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            unescaped = value.encode("latin-1").decode("unicode_escape")
            props[key] = unescaped.encode("utf-16", "surrogatepass").decode("utf-16")
    return props


def executable(path: Path, script: str) -> str:
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_cluster_id_is_a_kafka_uuid() -> None:
    cluster_id = new_cluster_id()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert new_cluster_id() != cluster_id


def test_properties_describe_one_combined_node_on_loopback(tmp_path: Path) -> None:
    props = parse_properties(server_properties("127.0.0.1", 9092, 40001, tmp_path / "data"))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:40001"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:40001"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert props["log.dirs"] == str(tmp_path / "data")


def test_properties_suit_consumer_groups_and_idempotent_producers(tmp_path: Path) -> None:
    props = parse_properties(server_properties("127.0.0.1", 9092, 9093, tmp_path))
    for one_replica in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "min.insync.replicas",
    ):
        assert props[one_replica] == "1"
    assert props["auto.create.topics.enable"] == "false"


def test_overrides_replace_defaults(tmp_path: Path) -> None:
    text = server_properties("127.0.0.1", 9092, 9093, tmp_path, {"num.partitions": "3"})
    assert parse_properties(text)["num.partitions"] == "3"


def test_unusual_data_dirs_survive_properties_escaping(tmp_path: Path) -> None:
    data = tmp_path / "wätch flow" / "back\\slash" / "😀"
    text = server_properties("127.0.0.1", 9092, 9093, data)
    assert text.isascii()
    assert parse_properties(text)["log.dirs"] == str(data)


def test_data_dir_with_comma_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="comma"):
        server_properties("127.0.0.1", 9092, 9093, tmp_path / "a,b")


def test_pom_and_module_agree_on_the_kafka_version() -> None:
    pom = (Path(__file__).parents[3] / "watchflow" / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in pom


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21-ea" 2023-09-19', 21),
        ('java version "1.8.0_292"', 8),
        ("bash: java: command not found", None),
    ],
)
def test_java_major_version(output: str, major: int | None) -> None:
    assert java_major_version(output) == major


def test_missing_java_is_named(tmp_path: Path) -> None:
    with pytest.raises(JavaUnavailableError, match="needs Java 17"):
        check_java(str(tmp_path / "no-java"))


def test_old_java_is_refused(tmp_path: Path) -> None:
    java = executable(tmp_path / "java", "echo 'openjdk version \"11.0.2\"' >&2\n")
    with pytest.raises(JavaUnavailableError, match=r"11\.0\.2"):
        check_java(java)


def test_taken_port_is_reported_before_any_jvm_starts(tmp_path: Path) -> None:
    java = executable(tmp_path / "java", "echo 'openjdk version \"17.0.1\"' >&2\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        broker = LocalKafka(tmp_path, tmp_path / "libs", port=port, java=java)
        with pytest.raises(PortInUseError) as failure:
            broker.up()
    assert failure.value.port == port
    assert not (broker.dir / "server.properties").exists()


def write_state(data_dir: Path, pid: int) -> Path:
    state = data_dir / "kafka" / "broker.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"pid": pid, "bootstrap": "127.0.0.1:9", "controller_port": 10}))
    return state


def test_state_of_an_exited_broker_is_forgotten(tmp_path: Path) -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    state = write_state(tmp_path, exited.pid)
    said: list[str] = []
    assert LocalKafka(tmp_path, Path()).status() is None
    assert not state.exists()
    assert kafka_down(tmp_path, said.append) is False
    assert said == []


def test_a_recycled_pid_is_never_signalled(tmp_path: Path) -> None:
    # The pid in broker.json now belongs to another program: this very test process.
    state = write_state(tmp_path, os.getpid())
    assert LocalKafka(tmp_path, Path()).down() is False
    assert not state.exists()


def test_unreadable_state_means_no_broker(tmp_path: Path) -> None:
    state = write_state(tmp_path, 1)
    state.write_text("{not json")
    assert LocalKafka(tmp_path, Path()).status() is None


def fake_maven(tmp_path: Path, *, fail: bool) -> str:
    """An mvn that records its calls, drops a partial download, and fails or completes."""
    finish = (
        "echo '[ERROR] Could not resolve dependencies'; exit 1"
        if fail
        else f'touch "$out/kafka_2.13-{KAFKA_VERSION}.jar"'
    )
    script = f"""echo call >> "{tmp_path}/mvn-calls"
for arg in "$@"; do case "$arg" in -DoutputDirectory=*) out="${{arg#*=}}";; esac; done
touch "$out/partial-{"failed" if fail else "ok"}.jar"
{finish}
"""
    return executable(tmp_path / ("mvn-fail" if fail else "mvn-ok"), script)


def test_jars_are_fetched_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    mvn = fake_maven(tmp_path, fail=False)
    assert fetch_jars(cache, mvn) == jar_dir(cache)
    assert fetch_jars(cache, mvn) == jar_dir(cache)
    assert jars_ready(cache)
    assert (tmp_path / "mvn-calls").read_text().count("call") == 1


def test_failed_fetch_reports_maven_output_and_is_redone_from_scratch(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(JarFetchError, match="mvn failed") as failure:
        fetch_jars(cache, fake_maven(tmp_path, fail=True))
    assert "Could not resolve dependencies" in failure.value.output_tail
    assert not jars_ready(cache)
    libs = fetch_jars(cache, fake_maven(tmp_path, fail=False))
    assert not (libs / "partial-failed.jar").exists()
    assert jars_ready(cache)


def test_missing_maven_is_named(tmp_path: Path) -> None:
    with pytest.raises(JarFetchError, match="Maven"):
        fetch_jars(tmp_path, str(tmp_path / "no-mvn"))


def test_start_failure_leads_with_the_cause_not_the_shutdown_noise() -> None:
    log = "\n".join(
        [
            "[2026-01-01 00:00:00,000] INFO starting (kafka.Kafka$)",
            "[2026-01-01 00:00:01,000] ERROR Unable to start acceptor for PLAINTEXT (kafka.x)",
            "org.apache.kafka.common.KafkaException: Socket server failed to bind to 1.2.3.4:5",
            "\tat kafka.network.Acceptor.openServerSocket(SocketServer.scala:1)",
            "Caused by: java.net.BindException: Address already in use",
            *[
                f"[2026-01-01 00:00:02,000] INFO shutting down part {i} (kafka.y)"
                for i in range(60)
            ],
        ]
    )
    error = BrokerStartError("the Kafka broker exited during startup", log, "broker.log")
    assert error.errors.splitlines() == [
        "ERROR Unable to start acceptor for PLAINTEXT (kafka.x)",
        "org.apache.kafka.common.KafkaException: Socket server failed to bind to 1.2.3.4:5",
        "Caused by: java.net.BindException: Address already in use",
    ]
    assert len(error.log_tail.splitlines()) == 40
    assert str(error).index("Address already in use") < str(error).index("shutting down")
