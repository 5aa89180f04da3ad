"""The worker's step logic over plain dicts: duplicates, order, idle closing, user state."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from streams import records, tables
from streams.model.catalog import Catalog
from streams.model.rules import Rules
from streams.processor import Processor, Step

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _ev(user: str, type_: str, seq: int, pos: float, sid: str = "s1", **more: Any) -> Any:
    doc = {
        "event_id": f"e-{user}-{sid}-{seq:04d}",
        "type": type_,
        "ts": (T0 + timedelta(seconds=10 * seq)).isoformat(),
        "user_id": user,
        "device_id": "tv",
        "video_id": "v1",
        "session_id": sid,
        "seq": seq,
        "position_s": pos,
        **more,
    }
    return records.decode_event(None, orjson.dumps(doc))


def _viewing(user: str = "alice", n: int = 30, stop: bool = True) -> list[Any]:
    evs = [_ev(user, "start", 0, 0.0, duration_s=300.0)]
    evs += [_ev(user, "heartbeat", i, 10.0 * i) for i in range(1, n + 1)]
    if stop:
        evs.append(_ev(user, "stop", n + 1, 10.0 * n))
    return evs


def _processor(idle_s: float = 1800.0) -> Processor:
    return Processor({}, {}, {}, Catalog(), Rules(idle_timeout_s=idle_s), partitions=8)


def _run(proc: Processor, evs: list[Any]) -> list[Step]:
    steps = []
    for ev in evs:
        step = proc.advance(ev, tables.partition_of(ev.user_id.encode(), 8))
        proc.apply(step)
        steps.append(step)
    return steps


def _milestones(steps: list[Step]) -> list[str]:
    return [m.milestone_id for s in steps for m in s.milestones]


def test_a_whole_viewing_emits_each_milestone_once_and_a_session_record() -> None:
    proc = _processor()
    steps = _run(proc, _viewing())
    ids = _milestones(steps)
    assert len(ids) == len(set(ids)) == 7
    assert [s.session_key for st in steps for s in st.sessions] == ["alice|s1"]
    assert [d["end_reason"] for d in proc.sessions_of(b"alice")] == ["stop"]


def test_redelivered_events_write_nothing_and_emit_nothing() -> None:
    proc = _processor()
    evs = _viewing()
    _run(proc, evs)
    before = dict(proc.videos)  # type: ignore[call-overload]
    again = _run(proc, evs)
    assert not any(s.writes or s.emits for s in again)
    assert dict(proc.videos) == before  # type: ignore[call-overload]


def test_in_a_replay_window_a_no_op_event_rewrites_the_keys_it_touches() -> None:
    proc = _processor()
    evs = _viewing()
    _run(proc, evs)
    step = proc.advance(evs[5], 0, rewrite=True)
    assert list(step.videos) == [b"alice|v1"] and list(step.users) == [b"alice"]
    assert not step.emits


def test_out_of_order_and_duplicated_arrival_ends_in_the_in_order_state() -> None:
    evs = _viewing(stop=False)
    in_order = _processor()
    _run(in_order, evs)
    shuffled = list(evs) + evs[3:9]
    body = shuffled[1:]
    rnd = random.Random(7)
    # Swap neighbours: late by a few events, as a retrying client delivers them.
    for i in range(0, len(body) - 1, 3):
        if rnd.random() < 0.7:
            body[i], body[i + 1] = body[i + 1], body[i]
    messy = _processor()
    steps = _run(messy, [shuffled[0], *body])
    assert messy.video(b"alice|v1") == in_order.video(b"alice|v1")
    assert sorted(_milestones(steps)) == sorted(_milestones(_run(_processor(), evs)))


def test_an_idle_session_closes_once_the_partitions_watermark_passes_its_deadline() -> None:
    proc = _processor(idle_s=60.0)
    _run(proc, _viewing("alice", n=5, stop=False))
    p = tables.partition_of(b"alice", 8)
    assert proc.sweep(p) is None  # nothing idle yet at the partition's event time
    # Another user on the same partition moves event time on.
    other = next(
        u for u in (f"u{i}" for i in range(1000)) if tables.partition_of(u.encode(), 8) == p
    )
    late = _ev(other, "start", 20, 0.0, sid="s9", duration_s=300.0)
    _run(proc, [late])
    step = proc.sweep(p)
    assert step is not None
    assert [(s.session_key, s.end_reason) for s in step.sessions] == [("alice|s1", "idle")]
    proc.apply(step)
    assert proc.sweep(p) is None
    assert len(proc.open) == 1  # only the other user's session is still open


def test_the_open_session_index_is_rebuilt_from_stored_states() -> None:
    proc = _processor(idle_s=60.0)
    _run(proc, _viewing("alice", n=5, stop=False) + _viewing("bob", n=5))
    stored = dict(proc.videos)  # type: ignore[call-overload]
    fresh = Processor(stored, dict(proc.users), dict(proc.history), Catalog(), proc.rules, 8)  # type: ignore[call-overload]
    p = tables.partition_of(b"alice", 8)
    found = fresh.index(
        p, [(k, v) for k, v in stored.items() if tables.partition_of(tables.user_of(k), 8) == p]
    )
    assert found == 1
    assert fresh.open.get(p, b"alice|v1") == proc.video(b"alice|v1")


def test_user_actions_update_the_user_state_and_the_cached_threshold() -> None:
    proc = _processor()
    pref = records.decode_event(
        None,
        orjson.dumps(
            {
                "event_id": "pref-0001",
                "type": "set_preferences",
                "ts": T0.isoformat(),
                "user_id": "alice",
                "device_id": "tv",
                "preferences": {"completion_threshold": 0.5},
            }
        ),
    )
    assert proc.threshold(b"alice").value == 0.9
    _run(proc, [pref])
    assert proc.threshold(b"alice").value == 0.5
    steps = _run(proc, _viewing(n=16, stop=False))
    assert "alice|v1|0|completed" in _milestones(steps)
