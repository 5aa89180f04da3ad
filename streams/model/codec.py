"""Compact, exact (de)serialisation of video and user states, for the worker's tables.

``decode(encode(x)) == x`` for every state: integers stay integers and orjson writes floats
in their shortest exact form, so a state restored from a changelog behaves exactly like the
one that was written (the same milestones, to the bit). Keys are short and default values are
left out; times inside a session are stored relative to the session's start, and the
session's window of points as deltas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import orjson

from ingest_api.contract import IsolationMode
from streams.model.hierarchy import Marks
from streams.model.intervals import Intervals
from streams.model.personal import Annotations, Bookmark, Note
from streams.model.playback import START, Cursor, Kind, Point
from streams.model.preferences import Prefs
from streams.model.queues import QueueItem
from streams.model.rules import ThresholdRule
from streams.model.sessions import EndReason, Session, SessionContext
from streams.model.user_state import SeriesProgress, UserState
from streams.model.video_state import Closed, DeviceMark, VideoState, WatchStatus

_STATUS = {
    WatchStatus.UNWATCHED: "u",
    WatchStatus.WATCHING: "w",
    WatchStatus.COMPLETED: "c",
    WatchStatus.SKIPPED: "k",
}
_STATUS_OF = {v: k for k, v in _STATUS.items()}
_RULE = {ThresholdRule.USER_PREFERENCE.value: "u", ThresholdRule.DEFAULT.value: "d"}
_RULE_OF = {v: k for k, v in _RULE.items()}
_WHY: dict[str, EndReason] = {"s": "stop", "i": "idle", "r": "replaced"}
_new = tuple.__new__  # builds a NamedTuple from a tuple without its keyword-parsing __new__
_SEEK = Kind.SEEK
SESSION_HEAD: int = Session._fields.index("mid")  # fields before it: what session_head_to encodes
_Head = tuple[str, str, int, int, int, int, int, float, SessionContext, bool, Cursor]


def encode_video(st: VideoState) -> bytes:
    return orjson.dumps(video_to_dict(st))


def decode_video(data: bytes) -> VideoState:
    return video_from_dict(orjson.loads(data))


def encode_user(st: UserState) -> bytes:
    return orjson.dumps(user_to_dict(st))


def decode_user(data: bytes) -> UserState:
    return user_from_dict(orjson.loads(data))


def _flat(ivs: Intervals) -> list[int]:
    # One interval is the common case: a third of the comprehension's cost.
    return list(ivs[0]) if len(ivs) == 1 else [x for iv in ivs for x in iv]


def _pairs(flat: list[int]) -> Intervals:
    return tuple(zip(flat[::2], flat[1::2], strict=True))


def video_to_dict(
    st: VideoState, session_to: Callable[[Session], Any] | None = None
) -> dict[str, Any]:
    """``st`` as the JSON document ``encode_video`` writes; ``session_to`` encodes each open
    session (``streams.model.video_encoder`` passes one that reuses unchanged bytes)."""
    d: dict[str, Any] = {}
    if st.dur:
        d["d"] = st.dur
    if st.status is not WatchStatus.UNWATCHED:
        d["s"] = _STATUS[st.status]
    if st.cycle:
        d["c"] = st.cycle
    if st.done:
        d["x"] = 1
    if st.ms:
        d["m"] = st.ms
    if st.rule:
        d["th"] = st.thr
        d["r"] = _RULE[st.rule]
    if st.cc:
        d["n"] = st.cc
    if st.wt:
        d["w"] = st.wt
    if st.base:
        d["b"] = _flat(st.base)
    if st.cov != st.base:
        d["v"] = _flat(st.cov)
    if st.devs:
        d["dv"] = [list(m) for m in st.devs]
    if st.closed:
        d["z"] = [[c.key, c.seq, c.seg, c.why[0]] for c in st.closed]
    if st.marked:
        d["mk"] = 1
    if st.acts:
        d["a"] = list(st.acts)
    if st.ann is not None:
        d["an"] = _ann_to(st.ann)
    opened = st.open
    if opened:
        to = session_to or _session_to
        d["o"] = [to(opened[0])] if len(opened) == 1 else [to(s) for s in opened]
    return d


def video_from_dict(d: dict[str, Any]) -> VideoState:
    base = _pairs(d.get("b", []))
    cov = _pairs(d["v"]) if "v" in d else base
    return VideoState(
        dur=d.get("d", 0),
        status=_STATUS_OF[d.get("s", "u")],
        cycle=d.get("c", 0),
        done=bool(d.get("x", 0)),
        ms=d.get("m", 0),
        thr=d.get("th", 0.0),
        rule=_RULE_OF[d["r"]] if "r" in d else "",
        cc=d.get("n", 0),
        wt=d.get("w", 0),
        base=base,
        devs=tuple(DeviceMark(*m) for m in d.get("dv", ())),
        closed=tuple(Closed(c[0], c[1], c[2], _WHY[c[3]]) for c in d.get("z", ())),
        marked=bool(d.get("mk", 0)),
        acts=tuple(d.get("a", ())),
        ann=_ann_from(d["an"]) if "an" in d else None,
        cov=cov,
        cov_ms=sum(b - a for a, b in cov),
        open=tuple(_session_from(x) for x in d.get("o", ())),
    )


def _ann_to(a: Annotations) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if a.rating:
        d["r"] = a.rating
    if a.tags:
        d["t"] = list(a.tags)
    if a.notes:
        d["n"] = [list(n) for n in a.notes]
    if a.bookmarks:
        d["k"] = [list(b) for b in a.bookmarks]
    return d


def _ann_from(d: dict[str, Any]) -> Annotations:
    return Annotations(
        rating=d.get("r", 0),
        tags=tuple(d.get("t", ())),
        notes=tuple(Note(*n) for n in d.get("n", ())),
        bookmarks=tuple(Bookmark(*b) for b in d.get("k", ())),
    )


def _session_to(s: Session) -> list[Any]:
    # The hot path encodes sessions by these same parts, reusing unchanged ones (video_encoder).
    t0, mid, points, cur = s.t0, s.mid, s.win, s.cur
    return [
        *session_head_to(s),
        None if mid is None else cursor_to(mid, t0),
        rows_to(points, t0),
        cursor_to(cur, t0),
    ]


def session_head_to(s: Session) -> list[Any]:
    """The encoded fields of ``s`` before ``mid`` (those an in-order event leaves alone)."""
    sid, dev, seg, cycle, seq0, t0, pos0, cov0, ctx_, won, base = cast(_Head, s[:SESSION_HEAD])
    ctx = 0 if ctx_.seq < 0 else list(ctx_)
    return [sid, dev, seg, cycle, seq0, t0, pos0, cov0, ctx, int(won), cursor_to(base, t0)]


def rows_to(points: tuple[Point, ...], t0: int) -> list[list[Any]]:
    """A session's window: each point relative to the one before (the first to ``0, t0``)."""
    win: list[list[Any]] = []
    seq, t = 0, t0
    for p in points:
        win.append(row_to(p, seq, t))
        seq, t = p[0], p[1]
    return win


def row_to(p: Point, seq: int, t: int) -> list[Any]:
    p_seq, p_t, pos, kind, rate, frm = p
    if kind == _SEEK:
        return [p_seq - seq, p_t - t, pos, int(kind), rate, frm]
    if rate != 1.0:
        return [p_seq - seq, p_t - t, pos, int(kind), rate]
    return [p_seq - seq, p_t - t, pos, int(kind)]


def _session_from(x: list[Any]) -> Session:
    sid, dev, seg, cycle, seq0, t0, pos0, cov0, ctx, won, base, mid, rows, cur = x
    win: list[Point] = []
    seq, t = 0, t0
    for row in rows:
        seq += row[0]
        t += row[1]
        pos, kind = row[2], row[3]
        rate = row[4] if len(row) > 4 else 1.0
        frm = row[5] if len(row) > 5 else pos
        win.append(_new(Point, (seq, t, pos, kind, rate, frm)))
    return Session(
        sid,
        dev,
        seg,
        cycle,
        seq0,
        t0,
        pos0,
        cov0,
        SessionContext(*ctx) if ctx else SessionContext(),
        bool(won),
        _cursor_from(base, t0),
        None if mid is None else _cursor_from(mid, t0),
        tuple(win),
        _cursor_from(cur, t0),
    )


def cursor_to(c: Cursor, t0: int) -> list[Any] | int:
    if c is START or c == START:
        return 0
    seq, t, pos, kind, mode, rate, wt, iv, rebuf, first, t_start, bufk, errors = c
    return [
        seq,
        t - t0,
        pos,
        int(kind),
        int(mode),
        rate,
        wt,
        _flat(iv),
        rebuf,
        None if first < 0 else first - t0,
        None if t_start < 0 else t_start - t0,
        int(bufk),
        errors,
    ]


def _cursor_from(x: list[Any] | int, t0: int) -> Cursor:
    if not isinstance(x, list):
        return START
    seq, t, pos, kind, mode, rate, wt, iv, rebuf, first, t_start, bufk, errors = x
    return Cursor(
        seq,
        t + t0,
        pos,
        kind,
        mode,
        rate,
        wt,
        _pairs(iv),
        rebuf,
        -1 if first is None else first + t0,
        -1 if t_start is None else t_start + t0,
        bufk,
        errors,
    )


def user_to_dict(st: UserState) -> dict[str, Any]:
    d: dict[str, Any] = {}
    p = st.prefs
    prefs = {
        k: v
        for k, v in (
            ("ct", p.completion_threshold),
            ("dg", p.daily_goal_minutes),
            ("tz", p.tz),
            ("sp", p.playback_speed),
        )
        if v is not None
    }
    if prefs:
        d["p"] = prefs
    if st.modes:
        d["md"] = {k: v.value for k, v in sorted(st.modes.items())}
    m = st.marks
    marks = {
        k: v
        for k, v in (
            ("h", sorted(m.shelves)),
            ("s", sorted(m.series)),
            ("n", [list(x) for x in sorted(m.seasons)]),
            ("v", sorted(m.videos)),
        )
        if v
    }
    if marks:
        d["mk"] = marks
    if st.queues:
        d["q"] = {
            k: [[i.video_id, i.priority, i.added_ms] for i in q]
            for k, q in sorted(st.queues.items())
        }
    if st.recent:
        d["r"] = [list(x) for x in st.recent]
    if st.series:
        d["sr"] = {k: [list(x) for x in v] for k, v in sorted(st.series.items())}
    if st.seen:
        d["sn"] = list(st.seen)
    return d


def user_from_dict(d: dict[str, Any]) -> UserState:
    p = d.get("p", {})
    m = d.get("mk", {})
    return UserState(
        prefs=Prefs(p.get("ct"), p.get("dg"), p.get("tz"), p.get("sp")),
        modes={k: IsolationMode(v) for k, v in d.get("md", {}).items()},
        marks=Marks(
            frozenset(m.get("h", ())),
            frozenset(m.get("s", ())),
            frozenset((s, n) for s, n in m.get("n", ())),
            frozenset(m.get("v", ())),
        ),
        queues={k: tuple(QueueItem(*i) for i in q) for k, q in d.get("q", {}).items()},
        recent=tuple((v, t) for v, t in d.get("r", ())),
        series={k: tuple(SeriesProgress(*x) for x in v) for k, v in d.get("sr", {}).items()},
        seen=tuple(d.get("sn", ())),
    )
