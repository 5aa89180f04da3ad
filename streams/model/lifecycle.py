"""How sessions of a (user, video) end: stop, idle, or replaced (SPEC §4.3).

``close`` folds an open session into the state's closed part (watch time, the cycle's union,
its device's mark, the memory of closed sessions) and returns its summary record.
``close_idle`` ends what went quiet; ``make_room`` ends what a new session supersedes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from streams.model import intervals, sessions
from streams.model.outputs import NOTHING, Activity, ActivityKind, Outputs
from streams.model.rules import DEFAULT_RULES, Rules
from streams.model.sessions import EndReason
from streams.model.video_state import WON, Closed, VideoState, session_key, session_mark


def close_idle(
    state: VideoState,
    now: datetime,
    *,
    user_id: str,
    video_id: str,
    rules: Rules = DEFAULT_RULES,
) -> tuple[VideoState, Outputs]:
    """End every open session whose last event is ``rules.idle_timeout_s`` or more before now."""
    now_ms = round(now.timestamp() * 1000)
    st, out, i = state, NOTHING, 0
    while i < len(st.open):
        s = st.open[i]
        if now_ms - s.cur.t >= rules.idle_ms:
            st, more = close(st, i, "idle", s.cur.t, user_id, video_id, rules)
            out += more
        else:
            i += 1
    return st, out


def idle_deadline(state: VideoState, rules: Rules = DEFAULT_RULES) -> datetime | None:
    """When ``close_idle`` will next have something to close; None with no open session."""
    if not state.open:
        return None
    t = min(s.cur.t for s in state.open) + rules.idle_ms
    return datetime.fromtimestamp(t / 1000, UTC)


def make_room(
    st: VideoState, device_id: str, t_ms: int, user_id: str, video_id: str, rules: Rules
) -> tuple[VideoState, Outputs]:
    """End what a new session opening on ``device_id`` at ``t_ms`` supersedes."""
    out = NOTHING
    i = 0
    while i < len(st.open):
        s = st.open[i]
        if s.dev == device_id:
            # A player makes a new session each time it loads a video: the old one is over.
            st, more = close(st, i, "replaced", s.cur.t, user_id, video_id, rules)
        elif t_ms - s.cur.t >= rules.idle_ms:
            st, more = close(st, i, "idle", s.cur.t, user_id, video_id, rules)
        else:
            i += 1
            continue
        out += more
    while len(st.open) >= rules.max_open_sessions:
        i = min(range(len(st.open)), key=lambda j: st.open[j].cur.t)
        stale = st.open[i]
        st, more = close(st, i, "replaced", stale.cur.t, user_id, video_id, rules)
        out += more
    return st, out


def close(
    st: VideoState,
    i: int,
    reason: EndReason,
    ended_ms: int,
    user_id: str,
    video_id: str,
    rules: Rules,
) -> tuple[VideoState, Outputs]:
    """Fold open session ``i`` into the state's closed part and summarise it."""
    s = st.open[i]
    rest = (*st.open[:i], *st.open[i + 1 :])
    base, cov, cov_ms = st.base, st.cov, st.cov_ms
    if s.cycle == st.cycle:
        base = intervals.cap(intervals.union(base, s.cur.iv), rules.max_intervals)[0]
        if not any(o.cycle == st.cycle for o in rest):
            # Nothing else open in this cycle: keep a single copy of the union in the state.
            cov, cov_ms = base, intervals.length(base)
        cov_end = min(1.0, cov_ms / st.dur) if st.dur > 0 else 0.0
    else:
        cov_end = min(1.0, intervals.length(s.cur.iv) / st.dur) if st.dur > 0 else 0.0
    mark = session_mark(st, s)
    others = []
    for m in st.devs:
        if m.dev == s.dev:
            mark = mark._replace(flags=mark.flags | (m.flags & WON))
        else:
            others.append(m)
    devs = tuple(sorted((mark, *others), key=lambda m: -m.t)[: rules.max_devices])
    closed = (*st.closed, Closed(session_key(s.sid), s.cur.seq, s.seg, reason))[
        -rules.closed_memory :
    ]
    st = st._replace(
        open=rest, wt=st.wt + s.cur.wt, base=base, cov=cov, cov_ms=cov_ms, devs=devs, closed=closed
    )
    rec = sessions.record(
        s,
        user_id=user_id,
        video_id=video_id,
        reason=reason,
        ended_ms=ended_ms,
        coverage_end=cov_end,
        dur_ms=st.dur,
    )
    played = Activity(ActivityKind.PLAYED, video_id, s.dev, s.cur.t)
    return st, Outputs(sessions=(rec,), activity=(played,))
