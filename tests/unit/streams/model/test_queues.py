"""Queues (seed 000): ordered videos with a priority 1..10."""

from __future__ import annotations

from streams.model import queues
from streams.model.queues import Queue


def ids(q: Queue) -> list[str]:
    return [i.video_id for i in q]


def build(*video_ids: str) -> Queue:
    q: Queue = ()
    for v in video_ids:
        q = queues.add(q, v, position=None, priority=None, t_ms=0, limit=100)
    return q


def test_add_appends_or_inserts_at_a_position() -> None:
    q = build("a", "b")
    q = queues.add(q, "c", position=0, priority=None, t_ms=0, limit=100)
    assert ids(q) == ["c", "a", "b"]
    assert q[0].priority == queues.DEFAULT_PRIORITY


def test_adding_a_queued_video_again_updates_it_in_place() -> None:
    q = build("a", "b")
    assert queues.add(q, "a", position=None, priority=None, t_ms=9, limit=100) == q
    q = queues.add(q, "a", position=None, priority=8, t_ms=9, limit=100)
    assert ids(q) == ["a", "b"]
    assert q[0].priority == 8


def test_a_full_queue_refuses_new_videos() -> None:
    q = build("a", "b")
    assert queues.add(q, "c", position=None, priority=None, t_ms=0, limit=2) == q


def test_move_and_remove() -> None:
    q = build("a", "b", "c")
    assert ids(queues.move(q, "c", position=0, priority=None)) == ["c", "a", "b"]
    assert ids(queues.move(q, "a", position=99, priority=None)) == ["b", "c", "a"]
    assert queues.move(q, "zzz", position=0, priority=None) == q
    assert ids(queues.remove(q, "b")) == ["a", "c"]


def test_by_priority_orders_by_priority_then_position() -> None:
    q = build("a", "b", "c")
    q = queues.move(q, "c", position=None, priority=9)
    assert [i.video_id for _, i in queues.by_priority(q)] == ["c", "a", "b"]
