"""What a player was doing between two consecutive events of a session (SPEC §4.1).

A session is folded point by point, in ``seq`` order, into a ``Cursor``: the player mode after
the last point and the session's running figures. ``step(cursor, point)`` judges the stretch
between the cursor's point and the next one:

- it was *played* only if the player was playing after the first point and the playhead moved
  forward by no more than the elapsed wall time x rate (+ a small slack). A seek ends the
  stretch at the seek's ``from_position_s``; the jump itself is never played;
- its *watch time* is the wall time spent playing, which can never exceed the media played
  divided by the rate: a frozen player or an app killed without a ``pause`` adds nothing;
- wall time spent buffering after playback first started is *rebuffering* (Mux); buffering
  before it is startup, and buffering right after a seek is seeking, neither is rebuffering.

Which events leave the player playing (decided from Mux's and Snowplow's state models):
``start`` (the user asked to play; the dp-bounded watch time excludes any startup delay),
``play``, ``heartbeat`` (only sent while playing), ``buffer_end``. ``pause``, ``buffer_start``,
``ended``, ``stop`` and ``error`` stop it. ``seek`` and ``rate_change`` keep the mode they
found: a seek while paused stays paused, a seek while playing resumes playing.

All times and positions are integer milliseconds, so folds are exact and repeatable.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from ingest_api.contract import EventType
from streams.model import intervals
from streams.model.intervals import Intervals


class Kind(IntEnum):
    """Playback event types, as small ints for compact points."""

    START = 0
    PLAY = 1
    PAUSE = 2
    HEARTBEAT = 3
    SEEK = 4
    BUFFER_START = 5
    BUFFER_END = 6
    RATE_CHANGE = 7
    ENDED = 8
    STOP = 9
    ERROR = 10


KIND_OF: dict[str, Kind] = {EventType(k.name.lower()): k for k in Kind}


class Mode(IntEnum):
    NONE = 0  # no mode-setting event seen yet
    PLAYING = 1
    PAUSED = 2
    BUFFERING = 3
    STOPPED = 4


class Buffering(IntEnum):
    """Why the player is buffering: only REBUFFER counts toward rebuffer time."""

    STARTUP = 0
    SEEK = 1
    REBUFFER = 2


_KEEP = -1
_NEXT_MODE: tuple[int, ...] = (
    Mode.PLAYING,  # start
    Mode.PLAYING,  # play
    Mode.PAUSED,  # pause
    Mode.PLAYING,  # heartbeat
    _KEEP,  # seek
    Mode.BUFFERING,  # buffer_start
    Mode.PLAYING,  # buffer_end
    _KEEP,  # rate_change
    Mode.STOPPED,  # ended
    Mode.STOPPED,  # stop
    Mode.STOPPED,  # error
)


class Point(NamedTuple):
    """One playback event of a session, reduced to what the fold needs."""

    seq: int
    t: int  # event time, epoch ms
    pos: int  # playhead after the event, ms
    kind: int  # Kind
    rate: float
    frm: int  # playhead just before the event: a seek's origin, else pos


class Cursor(NamedTuple):
    """A session folded up to and including point ``seq``."""

    seq: int = -1
    t: int = 0
    pos: int = 0
    kind: int = -1
    mode: int = Mode.NONE
    rate: float = 1.0
    wt: int = 0  # watch time, ms
    iv: Intervals = ()  # media played in this session
    rebuf: int = 0  # rebuffer time, ms
    first: int = -1  # estimated wall time of the first played millisecond, or -1
    t_start: int = -1  # time of the session's `start`, or -1
    bufk: int = Buffering.STARTUP
    errors: int = 0

    @property
    def startup_ms(self) -> int | None:
        """Start to first played second (Mux video startup time), when both are known."""
        if self.first < 0 or self.t_start < 0:
            return None
        return max(0, self.first - self.t_start)


START = Cursor()


def step(
    c: Cursor, p: Point, slack_ms: int, dur_ms: int, max_iv: int = 64
) -> tuple[Cursor, int, int]:
    """Fold point ``p`` (the next by seq) into ``c``.

    Returns the new cursor and the media interval ``[a, b)`` played between the two points
    (``b <= a`` when nothing was played), clipped to the duration when it is known. The
    session's own union keeps at most ``max_iv`` intervals (``intervals.cap``).
    """
    # Unpacking once is markedly cheaper than a dozen attribute reads on this hot path.
    _, ct, cpos, ckind, mode, rate, wt, iv, rebuf, first, t_start, bufk, errors = c
    seq, t, pos, k, prate, frm = p
    a = b = 0
    if mode == _PLAYING:
        dt = t - ct
        if dt < 0:
            dt = 0  # a client clock stepping back is not negative time
        dp = frm - cpos
        if 0 < dp <= dt * rate + slack_ms:
            w = dp if rate == 1.0 else round(dp / rate)
            if w > dt:
                w = dt
            wt += w
            if first < 0:
                first = t - w
            a = cpos
            b = frm if dur_ms <= 0 or frm <= dur_ms else dur_ms
            if b > a:
                iv = intervals.add(iv, a, b)[0]
                if len(iv) > max_iv:
                    iv = intervals.cap(iv, max_iv)[0]
    elif mode == _BUFFERING and bufk == _REBUFFER and t > ct:
        rebuf += t - ct
    nxt = _NEXT_MODE[k]
    if nxt != _KEEP:
        mode = nxt
    if k == _BUFFER_START:
        if first < 0:
            bufk = Buffering.STARTUP
        elif ckind == Kind.SEEK:
            bufk = Buffering.SEEK
        else:
            bufk = Buffering.REBUFFER
    elif k == _START and t_start < 0:
        t_start = t
    elif k == _ERROR:
        errors += 1
    cur = _new(Cursor, (seq, t, pos, k, mode, prate, wt, iv, rebuf, first, t_start, bufk, errors))
    return cur, a, b


_PLAYING = int(Mode.PLAYING)
_BUFFERING = int(Mode.BUFFERING)
_REBUFFER = int(Buffering.REBUFFER)
_BUFFER_START = int(Kind.BUFFER_START)
_START = int(Kind.START)
_ERROR = int(Kind.ERROR)
_new = tuple.__new__  # a NamedTuple from a tuple, without its keyword-parsing __new__


def fold(
    c: Cursor, points: tuple[Point, ...], slack_ms: int, dur_ms: int, max_iv: int = 64
) -> list[Cursor]:
    """Fold ``points`` (sorted by seq) into ``c``; return the cursor after each point."""
    out: list[Cursor] = []
    for p in points:
        c = step(c, p, slack_ms, dur_ms, max_iv)[0]
        out.append(c)
    return out
