"""An open playback session: its recent points, its running fold, and its summary record.

A session keeps a window of its most recent points (``rules.window`` to twice that) on top of
``base``, the fold of every older point. An event that arrives in seq order is folded onto
``cur`` in O(1); an older one is inserted into the window and the window is re-folded from
``base``, so arrival order inside the window never changes the result. ``mid`` is the fold at
the window's ``window``-th point, kept so the window can slide forward without re-folding.

A session belongs to the watch cycle that was current when it opened (SPEC §4.2).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, NamedTuple

from ingest_api.contract import SessionRecord
from streams.model import intervals
from streams.model.outputs import construct
from streams.model.playback import START, Cursor, Point, fold, step
from streams.model.rules import Rules

EndReason = Literal["stop", "idle", "replaced"]


class SessionContext(NamedTuple):
    """Context of the session's lowest-seq event that carried one."""

    seq: int = -1
    device_type: str | None = None
    referrer: str | None = None
    tz: str | None = None


NO_CONTEXT = SessionContext()


class Session(NamedTuple):
    sid: str
    dev: str
    seg: int  # 0, or n for the n-th resumption of a player session after an idle close
    cycle: int
    seq0: int  # lowest seq seen, with its time and position (the session's start)
    t0: int
    pos0: int
    cov0: float  # cycle coverage when the session opened
    ctx: SessionContext
    won: bool  # the cycle completed while this session was open
    base: Cursor
    # The fields an in-order event changes come last (see `_moved`).
    mid: Cursor | None
    win: tuple[Point, ...]
    cur: Cursor

    def has(self, seq: int) -> bool:
        """True if ``seq`` is already folded in (a duplicate) or too old to re-fold."""
        if seq <= self.base.seq:
            return True
        return any(p.seq == seq for p in self.win)

    def key(self, user_id: str) -> str:
        """Stable ``session_key``; resumptions after an idle close get a ``|n`` suffix."""
        return f"{user_id}|{self.sid}" if self.seg == 0 else f"{user_id}|{self.sid}|{self.seg}"


def open_session(
    sid: str,
    dev: str,
    seg: int,
    cycle: int,
    cov0: float,
    p: Point,
    ctx: SessionContext,
    rules: Rules,
    dur_ms: int,
    floor: int = -1,
) -> Session:
    """A session whose first arrived event is ``p``.

    Seqs up to ``floor`` belong to earlier, closed segments of the same player session: the
    base fold starts there, so their redeliveries are recognised as already seen.
    """
    base = START if floor < 0 else START._replace(seq=floor)
    cur = step(base, p, rules.slack_ms, dur_ms, rules.max_intervals)[0]
    return Session(sid, dev, seg, cycle, p.seq, p.t, p.pos, cov0, ctx, False, base, None, (p,), cur)


def append(s: Session, p: Point, rules: Rules, dur_ms: int) -> tuple[Session, int, int]:
    """Fold ``p``, newer than every point of ``s``; return it with the media played ``[a, b)``."""
    cur, a, b = step(s.cur, p, rules.slack_ms, dur_ms, rules.max_intervals)
    window = rules.window
    win = (*s.win, p)
    n = len(win)
    if n < window or (n > window and n < 2 * window):
        return _moved(s, s.mid, win, cur), a, b
    if n == window:
        return _moved(s, cur, win, cur), a, b
    if s.mid is None:
        return _refold(s, win, rules, dur_ms), a, b
    # Slide: the fold at the window's middle becomes the new base (once every `window` points).
    return tuple.__new__(Session, (*s[:_BASE], s.mid, cur, win[window:], cur)), a, b


_HOT = Session._fields.index("mid")
_BASE = Session._fields.index("base")
assert _BASE == _HOT - 1  # base, mid, win, cur are the last four fields, in this order


def _moved(s: Session, mid: Cursor | None, win: tuple[Point, ...], cur: Cursor) -> Session:
    # `_replace` costs four times this on the path every heartbeat takes.
    return tuple.__new__(Session, (*s[:_HOT], mid, win, cur))


def insert(s: Session, p: Point, rules: Rules, dur_ms: int) -> Session:
    """Insert ``p`` (older than ``s.cur``, not a duplicate) and re-fold the window."""
    win = tuple(sorted((*s.win, p)))
    return _refold(s, win, rules, dur_ms)


def _refold(s: Session, win: tuple[Point, ...], rules: Rules, dur_ms: int) -> Session:
    window = rules.window
    cursors = fold(s.base, win, rules.slack_ms, dur_ms, rules.max_intervals)
    base = s.base
    if len(win) >= 2 * window:
        base = cursors[window - 1]
        win = win[window:]
        cursors = cursors[window:]
    mid = cursors[window - 1] if len(win) >= window else None
    first = win[0]
    lower = first.seq < s.seq0
    return s._replace(
        base=base,
        win=win,
        cur=cursors[-1],
        mid=mid,
        seq0=first.seq if lower else s.seq0,
        t0=first.t if lower else s.t0,
        pos0=first.pos if lower else s.pos0,
    )


def with_context(s: Session, ctx: SessionContext) -> Session:
    """Keep the context of the lowest-seq event that has one, whatever the arrival order."""
    if s.ctx.seq < 0 or ctx.seq < s.ctx.seq:
        return s._replace(ctx=ctx)
    return s


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def record(
    s: Session,
    *,
    user_id: str,
    video_id: str,
    reason: EndReason,
    ended_ms: int,
    coverage_end: float,
    dur_ms: int,
) -> SessionRecord:
    """The summary of ``s`` for watch-sessions (SPEC §4.3)."""
    c = s.cur
    startup = c.startup_ms
    # model_construct: every field is built here from checked values; validation would only
    # cost time on the hot path of idle sweeps.
    return construct(
        SessionRecord,
        session_key=s.key(user_id),
        user_id=user_id,
        session_id=s.sid,
        video_id=video_id,
        device_id=s.dev,
        started_at=_dt(s.t0),
        ended_at=_dt(max(ended_ms, s.t0)),
        end_reason=reason,
        watch_time_s=c.wt / 1000,
        played_s=intervals.length(c.iv) / 1000,
        position_start_s=s.pos0 / 1000,
        position_end_s=c.pos / 1000,
        coverage_start=round(s.cov0, 6),
        coverage_end=round(coverage_end, 6),
        duration_s=dur_ms / 1000 if dur_ms > 0 else None,
        device_type=s.ctx.device_type,
        referrer=s.ctx.referrer,
        tz=s.ctx.tz,
        startup_time_s=None if startup is None else startup / 1000,
        rebuffer_time_s=c.rebuf / 1000,
        errors=c.errors,
        played_intervals=[(a / 1000, b / 1000) for a, b in c.iv],
        cycle=s.cycle,
        completed=s.won,
    )
