"""Table keys: O(1) per (user, video), and always partitioned by the user."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streams import tables


@pytest.mark.parametrize("user", ["alice", "a|b", "100%", "%7C", "ü|%|"])
def test_a_video_key_gives_back_its_user_and_video(user: str) -> None:
    key = tables.video_key(user, "v|1")
    assert tables.user_of(key) == user.encode()
    assert tables.split_video_key(key) == (user, "v|1")


def test_plain_ids_make_the_documented_user_bar_video_key() -> None:
    assert tables.video_key("alice", "v1") == b"alice|v1"
    assert tables.user_of(b"alice") == b"alice"  # a per-user key is the user id


def test_partitions_agree_with_the_kafka_producers_default_partitioner() -> None:
    parts = list(range(8))
    for user in ("alice", "bob", "a|b", "x" * 128):
        by_kafka = DefaultPartitioner()(user.encode(), parts, parts)
        assert tables.partition_of(user.encode(), 8) == by_kafka
        key = tables.video_key(user, "v")
        assert tables.partition_of(tables.user_of(key), 8) == by_kafka
