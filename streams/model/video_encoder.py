"""``codec.encode_video`` for the hot path: the same bytes, most of them reused.

A heartbeat changes one open session's newest point and running fold; ``codec.encode_video``
still re-encodes the whole session, its window of up to ``2 * rules.window`` points
included: a quarter of the worker's step. ``VideoEncoder`` remembers, per session id, the
bytes of the session's last encoding by part (the fields before ``mid``, ``mid``, the
window's rows) together with the very objects each part encodes, and reuses a part when the
new session holds the same objects (identity, not equality: ``1 == 1.0`` but they encode
differently). A window that grew by one point costs one row. The session's parts are joined
as orjson writes a list (compact: items joined by commas) and handed to ``orjson.dumps`` of
the rest of the state as an ``orjson.Fragment``, so the output is byte for byte
``codec.encode_video``'s; the unit tests compare the two on every state of long viewer
timelines, in and out of order. (Reusing the state's other keys the same way was tried: no
faster than building them.)

The memo is bounded (``max_sessions``, then it starts over) and holds no state the result
depends on: a miss only costs the full encode.
"""

from __future__ import annotations

from operator import is_
from typing import Any

import orjson

from streams.model import codec
from streams.model.playback import Cursor
from streams.model.sessions import Session
from streams.model.video_state import VideoState

_dumps = orjson.dumps
_Fragment = orjson.Fragment
_HEAD: int = codec.SESSION_HEAD
assert Session._fields[_HEAD:] == ("mid", "win", "cur")


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Every item of ``b`` is the object at the same index of ``a`` (``a`` may be longer)."""
    return all(map(is_, a, b))


class VideoEncoder:
    def __init__(self, max_sessions: int = 50_000) -> None:
        self.max_sessions = max_sessions
        # session id -> [the session last encoded, the JSON of its fields before mid (without
        # brackets), of its mid, of its window's rows (without brackets)]. A list updated in
        # place and the session itself: a heartbeat leaves no memo object behind for the
        # garbage collector (a tuple of the parts and one of the head's fields, before).
        self._memo: dict[str, list[Any]] = {}

    def encode(self, st: VideoState) -> bytes:
        """Exactly ``codec.encode_video(st)``."""
        if not st.open:
            return codec.encode_video(st)
        return _dumps(codec.video_to_dict(st, self._session))

    def _session(self, s: Session) -> orjson.Fragment:
        t0, mid, win = s.t0, s.mid, s.win
        memo = self._memo
        m = memo.get(s.sid)
        if m is not None and _same(m[0], s[:_HEAD]):
            prev: Session = m[0]
            if mid is not prev.mid:
                m[2] = _dumps(_mid_to(mid, t0))
            old = prev.win
            if win is not old:
                if len(win) == len(old) + 1 and old and _same(win, old):
                    p = old[-1]
                    m[3] += b"," + _dumps(codec.row_to(win[-1], p[0], p[1]))
                else:
                    m[3] = _dumps(codec.rows_to(win, t0))[1:-1]
            m[0] = s
        else:
            if len(memo) >= self.max_sessions:
                memo.clear()
            head_b = _dumps(codec.session_head_to(s))[1:-1]
            mid_b = _dumps(_mid_to(mid, t0))
            rows_b = _dumps(codec.rows_to(win, t0))[1:-1]
            m = memo[s.sid] = [s, head_b, mid_b, rows_b]
        cur_b = _dumps(codec.cursor_to(s.cur, t0))
        return _Fragment(b"".join((b"[", m[1], b",", m[2], b",[", m[3], b"],", cur_b, b"]")))


def _mid_to(mid: Cursor | None, t0: int) -> Any:
    return None if mid is None else codec.cursor_to(mid, t0)
