"""An open session's window: bounded, and blind to arrival order inside it."""

from __future__ import annotations

import pytest

from streams.model import sessions
from streams.model.playback import Kind, Point
from streams.model.rules import Rules
from streams.model.sessions import NO_CONTEXT, Session, SessionContext

RULES = Rules(window=4)
DUR = 36_000_000


def hb(seq: int) -> Point:
    return Point(
        seq,
        seq * 10_000,
        seq * 10_000,
        Kind.PLAY if seq == 0 else Kind.HEARTBEAT,
        1.0,
        seq * 10_000,
    )


def build(order: list[int]) -> Session:
    s = sessions.open_session("s", "d", 0, 0, 0.0, hb(order[0]), NO_CONTEXT, RULES, DUR)
    for seq in order[1:]:
        p = hb(seq)
        if s.has(seq):
            continue
        if seq > s.cur.seq:
            s = sessions.append(s, p, RULES, DUR)[0]
        else:
            s = sessions.insert(s, p, RULES, DUR)
    return s


def test_a_long_session_keeps_a_bounded_window() -> None:
    s = build(list(range(500)))
    assert RULES.window <= len(s.win) < 2 * RULES.window
    assert s.cur.wt == 499 * 10_000
    assert s.cur.iv == ((0, 499 * 10_000),)


@pytest.mark.parametrize(
    "order",
    [
        [0, 2, 1, 3, 4, 5, 6, 7, 8, 9],
        [0, 1, 2, 3, 5, 4, 6, 7, 8, 9],
        [0, 1, 2, 3, 4, 5, 6, 9, 8, 7],
        [1, 0, 2, 3, 4, 5, 6, 7, 8, 9],
    ],
)
def test_arrival_order_inside_the_window_does_not_change_the_fold(order: list[int]) -> None:
    expected = build(list(range(10)))
    got = build(order)
    assert (got.cur, got.base, got.win, got.seq0, got.t0) == (
        expected.cur,
        expected.base,
        expected.win,
        expected.seq0,
        expected.t0,
    )


def test_a_duplicate_or_too_old_seq_is_recognised() -> None:
    s = build(list(range(20)))
    assert s.has(19)
    assert s.has(15)
    assert s.has(0)  # folded into the base long ago
    assert not s.has(20)


def test_context_comes_from_the_lowest_seq_that_carries_one() -> None:
    s = build([0, 1, 2])
    s = sessions.with_context(s, SessionContext(2, "tv", "search", None))
    s = sessions.with_context(s, SessionContext(1, "mobile", "direct_link", None))
    s = sessions.with_context(s, SessionContext(2, "tv", "search", None))
    assert s.ctx.device_type == "mobile"


def test_a_resumed_segment_has_its_own_session_key() -> None:
    s = build([0, 1])
    assert s.key("u") == "u|s"
    assert s._replace(seg=2).key("u") == "u|s|2"
