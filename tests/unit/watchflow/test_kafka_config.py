"""The local broker's configuration: one combined node on loopback, settings that suit consumer
groups and idempotent producers, overrides that win, escaping that survives any data dir, and a
cluster id Kafka accepts."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from watchflow.kafka_config import new_cluster_id, server_properties


def parse_properties(text: str) -> dict[str, str]:
    """Read .properties the way java.util.Properties does, for the subset we write."""
    props = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            unescaped = value.encode("latin-1").decode("unicode_escape")
            props[key] = unescaped.encode("utf-16", "surrogatepass").decode("utf-16")
    return props


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


def test_cluster_ids_never_start_with_a_dash_that_storage_tool_would_read_as_an_option() -> None:
    ids = [new_cluster_id() for _ in range(5000)]
    assert all(not cid.startswith("-") for cid in ids)
    assert all(len(cid) == 22 for cid in ids)
