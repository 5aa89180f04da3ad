"""A scripted player for tests: emits valid contract events and keeps the ground truth.

``Player`` plays one session the way a real player reports it (a heartbeat every 10 s while
playing) and records what truly happened: wall seconds playing and the media intervals played.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest_api.contract import EVENT, AnyAction, AnyPlayback
from streams.model import intervals, watch_state
from streams.model.outputs import NOTHING, Outputs
from streams.model.rules import DEFAULT_RULES, DEFAULT_THRESHOLD, Rules, Threshold
from streams.model.video_state import VideoState

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def event(type_: str, **fields: Any) -> Any:
    """A validated contract event; ``fields`` override the defaults."""
    doc: dict[str, Any] = {
        "event_id": f"evt-{next(_ids):010d}",
        "type": type_,
        "ts": T0.isoformat(),
        "user_id": "u1",
        "device_id": "d1",
    }
    doc.update(fields)
    if isinstance(doc["ts"], datetime):
        doc["ts"] = doc["ts"].isoformat()
    return EVENT.validate_python(doc)


class Player:
    def __init__(
        self,
        *,
        user: str = "u1",
        video: str = "v1",
        device: str = "d1",
        session: str = "s1",
        duration: float = 600.0,
        at: datetime = T0,
        context: dict[str, Any] | None = None,
    ) -> None:
        self.user, self.video, self.device, self.session = user, video, device, session
        self.duration = duration
        self.t = at
        self.pos = 0.0
        self.rate = 1.0
        self.seq = 0
        self.context = context
        self.events: list[AnyPlayback] = []
        # Ground truth.
        self.true_watch_s = 0.0
        self.true_played: intervals.Intervals = ()

    def emit(self, type_: str, **extra: Any) -> Player:
        fields: dict[str, Any] = {
            "ts": self.t,
            "user_id": self.user,
            "device_id": self.device,
            "video_id": self.video,
            "session_id": self.session,
            "seq": self.seq,
            "position_s": round(self.pos, 3),
            "playback_rate": self.rate,
        }
        if self.context is not None:
            fields["context"] = self.context
        fields.update(extra)
        self.seq += 1
        self.events.append(event(type_, **fields))
        return self

    def start(self, at_pos: float = 0.0) -> Player:
        self.pos = at_pos
        return self.emit("start", duration_s=self.duration)

    def play(self) -> Player:
        return self.emit("play")

    def watch(self, seconds: float, every: float = 10.0) -> Player:
        """Play for ``seconds`` of wall time, with a heartbeat every ``every`` seconds."""
        left = seconds
        while left > 1e-9:
            dt = min(every, left)
            media = min(dt * self.rate, self.duration - self.pos)
            a = round(self.pos * 1000)
            self.pos += media
            self.true_played = intervals.add(self.true_played, a, round(self.pos * 1000))[0]
            self.true_watch_s += media / self.rate
            self.t += timedelta(seconds=dt)
            left -= dt
            self.emit("heartbeat")
        return self

    def pause(self) -> Player:
        return self.emit("pause")

    def wait(self, seconds: float) -> Player:
        self.t += timedelta(seconds=seconds)
        return self

    def seek(self, to: float) -> Player:
        origin = self.pos
        self.pos = to
        return self.emit("seek", from_position_s=round(origin, 3))

    def buffer(self, seconds: float) -> Player:
        self.emit("buffer_start")
        self.t += timedelta(seconds=seconds)
        return self.emit("buffer_end")

    def set_rate(self, rate: float) -> Player:
        self.rate = rate
        return self.emit("rate_change")

    def ended(self) -> Player:
        self.pos = self.duration
        return self.emit("ended")

    def stop(self) -> Player:
        return self.emit("stop")

    def error(self) -> Player:
        return self.emit("error", error={"code": "E1", "message": "decode"})

    @property
    def true_coverage(self) -> float:
        return intervals.length(self.true_played) / (self.duration * 1000)


def run(
    events: Iterable[AnyPlayback | AnyAction],
    state: VideoState | None = None,
    threshold: Threshold = DEFAULT_THRESHOLD,
    rules: Rules = DEFAULT_RULES,
) -> tuple[VideoState, Outputs]:
    """Fold events into a video state; return it with every output, in order."""
    out = NOTHING
    st = state
    for ev in events:
        st, more = watch_state.advance(st, ev, threshold, rules)  # type: ignore[arg-type]
        out += more
    assert st is not None
    return st, out


def milestone_ids(out: Outputs) -> list[str]:
    return [m.milestone_id for m in out.milestones]


def swapped(events: Sequence[AnyPlayback], pairs: Iterable[int]) -> list[AnyPlayback]:
    """``events`` with event i and i+1 exchanged for each i in ``pairs``."""
    out = list(events)
    for i in pairs:
        out[i], out[i + 1] = out[i + 1], out[i]
    return out
