"""What the truth knows of one user: per video, per playback session and per local day, in
exact integer milliseconds, and the form each record takes in the truth file
(docs/simulator.md). ``Spans`` is the union of media played, which coverage is measured on.

``jobs.truth`` fills these records in from the steps a run released.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from jobs.profiles import Profile
from jobs.timeline import HEARTBEAT_MS, datetime_of, iso


class Spans:
    """A union of media intervals in ms, kept sorted and merged; ``total`` is its length."""

    __slots__ = ("spans", "total")

    def __init__(self) -> None:
        self.spans: list[list[int]] = []
        self.total = 0

    def add(self, a: int, b: int) -> None:
        if b <= a:
            return
        spans = self.spans
        if spans and spans[-1][0] <= a <= spans[-1][1]:
            last = spans[-1]  # the common case: playing on from where the last span ends
            if b > last[1]:
                self.total += b - last[1]
                last[1] = b
            return
        i = bisect.bisect_left(spans, a, key=_span_end)
        j, lo, hi = i, a, b
        while j < len(spans) and spans[j][0] <= hi:
            lo, hi = min(lo, spans[j][0]), max(hi, spans[j][1])
            self.total -= spans[j][1] - spans[j][0]
            j += 1
        spans[i:j] = [[lo, hi]]
        self.total += hi - lo

    def as_seconds(self) -> list[list[float]]:
        return [[a / 1000, b / 1000] for a, b in self.spans]


def _span_end(span: list[int]) -> int:
    return span[1]


@dataclass(slots=True)
class SessionTruth:
    session_id: str
    video_id: str
    device_id: str
    referrer: str
    cycle: int
    started_ms: int
    ended_ms: int
    position_start_ms: int
    position_end_ms: int
    end: str = "open"  # "stop", "idle" (left without a word) or "open" (run ended first)
    watch_ms: int = 0
    played_ms: int = 0
    played: Spans = field(default_factory=Spans)
    startup_ms: int | None = None
    rebuffer_ms: int = 0
    buffering_since: int | None = None
    errors: int = 0
    reached_end: bool = False
    completed: bool = False  # its cycle reached the completion threshold in this session


@dataclass(slots=True)
class VideoTruth:
    video_id: str
    duration_ms: int
    watch_ms: int = 0
    played_ms: int = 0
    covered: Spans = field(default_factory=Spans)
    cycle: int = 0
    cycle_covered: Spans = field(default_factory=Spans)
    cycle_complete: bool = False
    completed_count: int = 0
    sessions: int = 0
    position_ms: int = 0
    last_ms: int = 0

    @property
    def status(self) -> str:
        if self.completed_count:
            return "completed"
        return "watching" if self.played_ms else "unwatched"


@dataclass(slots=True)
class DayTruth:
    watch_ms: int = 0
    sessions: int = 0
    videos: set[str] = field(default_factory=set)
    completed: int = 0


@dataclass(slots=True)
class UserTruth:
    profile: Profile
    tz: ZoneInfo
    events: int = 0
    videos: dict[str, VideoTruth] = field(default_factory=dict)
    sessions: dict[str, SessionTruth] = field(default_factory=dict)
    days: dict[date, DayTruth] = field(default_factory=dict)
    actions: Counter[str] = field(default_factory=Counter)
    marked_watched: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ratings: dict[str, int] = field(default_factory=dict)
    isolation: dict[str, str] = field(default_factory=dict)

    def day(self, at_ms: int) -> DayTruth:
        d = datetime_of(at_ms).astimezone(self.tz).date()
        day = self.days.get(d)
        if day is None:
            day = self.days[d] = DayTruth()
        return day


def user_json(u: UserTruth) -> dict[str, Any]:
    """One user in the truth file: seconds, ISO times, local dates."""
    p = u.profile
    goal = p.daily_goal_minutes
    return {
        "tz": p.tz,
        "devices": [{"device_id": d.device_id, "device_type": d.device_type} for d in p.devices],
        "completion_threshold": p.threshold,
        "daily_goal_minutes": goal,
        "events": u.events,
        "watch_time_s": sum(v.watch_ms for v in u.videos.values()) / 1000,
        "videos": {vid: _video_json(v) for vid, v in u.videos.items()},
        "sessions": [_session_json(s) for s in u.sessions.values()],
        "daily": {
            d.isoformat(): {
                "watch_time_s": day.watch_ms / 1000,
                "sessions": day.sessions,
                "videos_watched": len(day.videos),
                "videos_completed": day.completed,
                "goal_met": None if goal is None else day.watch_ms >= goal * 60_000,
            }
            for d, day in sorted(u.days.items())
        },
        "actions": dict(u.actions),
        "marked_watched": u.marked_watched,
        "skipped": u.skipped,
        "ratings": u.ratings,
        "isolation": u.isolation,
    }


def _video_json(v: VideoTruth) -> dict[str, Any]:
    return {
        "duration_s": v.duration_ms / 1000,
        "status": v.status,
        "watch_time_s": v.watch_ms / 1000,
        "played_s": v.played_ms / 1000,
        "coverage": v.covered.total / v.duration_ms,
        "played_intervals": v.covered.as_seconds(),
        "cycle": v.cycle,
        "cycle_coverage": v.cycle_covered.total / v.duration_ms,
        "completed_count": v.completed_count,
        "position_s": v.position_ms / 1000,
        "resume_position_s": 0.0 if v.cycle_complete else v.position_ms / 1000,
        "sessions": v.sessions,
        "last_watched_at": iso(v.last_ms),
        "tolerance_s": v.sessions * HEARTBEAT_MS / 1000,
    }


def _session_json(s: SessionTruth) -> dict[str, Any]:
    return {
        "session_id": s.session_id,
        "video_id": s.video_id,
        "device_id": s.device_id,
        "referrer": s.referrer,
        "cycle": s.cycle,
        "started_at": iso(s.started_ms),
        "ended_at": iso(s.ended_ms),
        "end": s.end,
        "watch_time_s": s.watch_ms / 1000,
        "played_s": s.played_ms / 1000,
        "played_intervals": s.played.as_seconds(),
        "position_start_s": s.position_start_ms / 1000,
        "position_end_s": s.position_end_ms / 1000,
        "startup_time_s": None if s.startup_ms is None else s.startup_ms / 1000,
        "rebuffer_time_s": s.rebuffer_ms / 1000,
        "errors": s.errors,
        "reached_end": s.reached_end,
        "completed": s.completed,
    }
