"""The watch state of one (user, video), and what it reads as (SPEC §4.1, §4.2, §6).

``VideoState`` is a plain immutable value. Figures that change on every heartbeat (watch
time, last position, last activity) are not copied into it: they are read off the open
sessions, so a heartbeat rewrites only the session it belongs to.

Per device it remembers the last position, last activity and two flags (``DeviceMark``); that
is what device isolation needs (SPEC §4.5), bounded by ``rules.max_devices``.
"""

from __future__ import annotations

from base64 import urlsafe_b64encode
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from hashlib import blake2b
from typing import NamedTuple

from streams.model import intervals
from streams.model.intervals import Intervals
from streams.model.milestones import kinds
from streams.model.personal import Annotations
from streams.model.sessions import Session


class WatchStatus(StrEnum):
    UNWATCHED = "unwatched"
    WATCHING = "watching"
    COMPLETED = "completed"
    SKIPPED = "skipped"


# DeviceMark.flags
DONE = 1  # the cycle was complete at this device's last report: its resume point is 0
WON = 2  # a cycle was completed by playback on this device (it has seen the video complete)


class DeviceMark(NamedTuple):
    """A device's last word on this video: where it left off and when."""

    dev: str
    pos: int
    t: int
    flags: int = 0


class Closed(NamedTuple):
    """A recently closed session: its events up to ``seq`` are known and ignored."""

    key: str  # session_key(session_id)
    seq: int
    seg: int
    why: str  # "stop", "idle" or "replaced"


def session_key(session_id: str) -> str:
    """A short, fixed-size stand-in for a session id (ids may be 128 characters long).

    64 bits of BLAKE2b: two sessions of one (user, video) colliding is not a practical risk.
    """
    digest = blake2b(session_id.encode(), digest_size=8).digest()
    return urlsafe_b64encode(digest).decode()[:11]


class VideoState(NamedTuple):
    dur: int = 0  # duration, ms; 0 = not known yet
    status: WatchStatus = WatchStatus.UNWATCHED
    cycle: int = 0
    done: bool = False  # the current cycle reached the threshold
    ms: int = 0  # milestone bits of the current cycle
    thr: float = 0.0  # threshold that completed the last cycle, and its rule ("" = none)
    rule: str = ""
    cc: int = 0  # completed_count
    wt: int = 0  # watch time of closed sessions, ms
    base: Intervals = ()  # union played by closed sessions in the current cycle
    devs: tuple[DeviceMark, ...] = ()  # most recent first
    closed: tuple[Closed, ...] = ()  # most recent last
    marked: bool = False  # explicitly marked watched (not by playback)
    acts: tuple[str, ...] = ()  # recent action event ids on this video
    ann: Annotations | None = None
    # The fields a heartbeat changes come last, so `with_open` can rebuild by slicing.
    cov: Intervals = ()  # base ∪ open sessions of the current cycle
    cov_ms: int = 0
    open: tuple[Session, ...] = ()


EMPTY = VideoState()


def utc(ms: int) -> datetime | None:
    """Epoch milliseconds as an aware UTC datetime; None for 0 (never)."""
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None


_COLD = VideoState._fields.index("cov")


def with_open(
    st: VideoState, cov: Intervals, cov_ms: int, opened: tuple[Session, ...]
) -> VideoState:
    """``st`` with a new cycle union and open sessions: ``_replace`` at a quarter of the cost."""
    return tuple.__new__(VideoState, (*st[:_COLD], cov, cov_ms, opened))


def watch_ms(st: VideoState) -> int:
    """Total wall time spent playing, all cycles and devices."""
    total = st.wt
    for s in st.open:  # (a generator costs more than the sum on the milestone path)
        total += s.cur.wt
    return total


def coverage(st: VideoState) -> float:
    """Share of the duration the current cycle has played, 0..1."""
    if st.dur <= 0:
        return 0.0
    return min(1.0, st.cov_ms / st.dur)


def device_marks(st: VideoState) -> list[DeviceMark]:
    """Every device's latest mark, open sessions included, most recent first."""
    live: dict[str, DeviceMark] = {}
    for s in st.open:
        m = session_mark(st, s)
        old = live.get(s.dev)
        if old is None or m.t >= old.t:
            live[s.dev] = m
    out = list(live.values())
    for m in st.devs:
        if m.dev in live:
            # An open session is the device's latest word; keep the WON it earned before.
            i = next(j for j, x in enumerate(out) if x.dev == m.dev)
            out[i] = out[i]._replace(flags=out[i].flags | (m.flags & WON))
        else:
            out.append(m)
    out.sort(key=lambda m: m.t, reverse=True)
    return out


def session_mark(st: VideoState, s: Session) -> DeviceMark:
    """What an open (or closing) session says for its device."""
    flags = WON if s.won else 0
    if s.won or (s.cycle == st.cycle and st.done):
        flags |= DONE
    return DeviceMark(s.dev, s.cur.pos, s.cur.t, flags)


def last_ms(st: VideoState) -> int:
    """Time of the latest playback event on this video, 0 if none."""
    ts = [m.t for m in st.devs] + [s.cur.t for s in st.open]
    return max(ts, default=0)


def position_ms(st: VideoState) -> int:
    """Resume point: last position of the latest session; 0 while the cycle is complete."""
    if st.done:
        return 0
    ms = device_marks(st)
    return ms[0].pos if ms else 0


@dataclass(frozen=True, slots=True)
class WatchView:
    """The live watch state as the summary API shows it (SPEC §6)."""

    status: WatchStatus
    position_s: float
    coverage: float
    watch_time_s: float
    completed_count: int
    cycle: int
    last_watched_at_ms: int | None
    duration_s: float | None
    threshold: float | None
    rule: str | None
    milestones: tuple[str, ...]
    played_intervals: tuple[tuple[float, float], ...]

    @property
    def last_watched_at(self) -> datetime | None:
        return utc(self.last_watched_at_ms or 0)


def view(st: VideoState) -> WatchView:
    """The user-level view: every device's activity counts."""
    last = last_ms(st)
    return WatchView(
        status=st.status,
        position_s=position_ms(st) / 1000,
        coverage=round(coverage(st), 6),
        watch_time_s=watch_ms(st) / 1000,
        completed_count=st.cc,
        cycle=st.cycle,
        last_watched_at_ms=last or None,
        duration_s=st.dur / 1000 if st.dur else None,
        threshold=st.thr if st.rule else None,
        rule=st.rule or None,
        milestones=tuple(k.value for k in kinds(st.ms)),
        played_intervals=tuple((a / 1000, b / 1000) for a, b in st.cov),
    )


def cycle_union(base: Intervals, sessions: tuple[Session, ...], cycle: int) -> Intervals:
    """The current cycle's union: closed sessions' ``base`` and the open sessions of ``cycle``."""
    out = base
    for s in sessions:
        if s.cycle == cycle:
            out = intervals.union(out, s.cur.iv)
    return out
