"""The truth of a simulated run: what every viewer truly watched, to hold the pipeline to.

``Truth`` is built from the steps a run actually released, out of what the viewer did (wall
time spent playing, the media played), never from the pipeline's code, so tests can hold the
pipeline's figures to it within the tolerance of SPEC §4.1. Pure: it only adds up ``Step``s;
its records are ``jobs.truth_records``, and ``to_json`` is the documented truth file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from jobs.profiles import DEFAULT_COMPLETION_THRESHOLD, Profile
from jobs.timeline import HEARTBEAT_MS, Step
from jobs.truth_records import SessionTruth, Spans, UserTruth, VideoTruth, user_json


class Truth:
    """What every viewer truly watched, from the steps a run released, in release order.

    The figures follow SPEC §4.1 and §4.2: watch time is wall time spent playing, coverage
    the union of media played (seeking adds none), a cycle completes when its coverage
    reaches the user's threshold, and a start on a completed cycle opens the next one.
    """

    def __init__(self, profiles: Sequence[Profile] | Callable[[str], Profile]) -> None:
        """``profiles``: the viewers, or how to find a viewer's profile by user_id."""
        if callable(profiles):
            self._profile = profiles
        else:
            known = {p.user_id: p for p in profiles}
            self._profile = known.__getitem__
        self.users: dict[str, UserTruth] = {}
        self.events = 0

    def apply(self, step: Step) -> None:
        user = self.users.get(step.user_id)
        if user is None:
            profile = self._profile(step.user_id)
            user = self.users[step.user_id] = UserTruth(profile, ZoneInfo(profile.tz))
        if step.event is not None:
            user.events += 1
            self.events += 1
        info = step.session
        if info is None:
            self._action(user, step)
            return
        video = user.videos.get(info.video_id)
        if video is None:
            video = user.videos[info.video_id] = VideoTruth(info.video_id, info.duration_ms)
        session = user.sessions.get(info.session_id)
        if session is None:
            if video.cycle_complete:  # a rewatch: a new cycle, coverage from zero
                video.cycle += 1
                video.cycle_covered = Spans()
                video.cycle_complete = False
            video.sessions += 1
            session = user.sessions[info.session_id] = SessionTruth(
                info.session_id, info.video_id, info.device_id, info.referrer, video.cycle,
                step.at_ms, step.at_ms, step.position_ms, step.position_ms,
            )  # fmt: skip
            user.day(step.at_ms).sessions += 1
        if step.played is not None:
            wall, a, b = step.played
            session.watch_ms += wall
            session.played_ms += b - a
            session.played.add(a, b)
            video.watch_ms += wall
            video.played_ms += b - a
            video.covered.add(a, b)
            video.cycle_covered.add(a, b)
            day = user.day(step.at_ms)
            day.watch_ms += wall
            day.videos.add(info.video_id)
            threshold = user.profile.threshold * video.duration_ms
            if not video.cycle_complete and video.cycle_covered.total >= threshold - 1e-6:
                video.cycle_complete = True
                video.completed_count += 1
                session.completed = True
                day.completed += 1
        kind = step.kind
        if kind == "play" and session.startup_ms is None:
            session.startup_ms = step.at_ms - session.started_ms
        elif kind == "buffer_start" and session.startup_ms is not None:
            session.buffering_since = step.at_ms
        elif kind == "buffer_end" and session.buffering_since is not None:
            session.rebuffer_ms += step.at_ms - session.buffering_since
            session.buffering_since = None
        elif kind == "error":
            session.errors += 1
        elif kind == "ended":
            session.reached_end = True
        elif kind in ("stop", "idle"):
            session.end = kind
        session.ended_ms = step.at_ms
        session.position_end_ms = step.position_ms
        video.position_ms = step.position_ms
        video.last_ms = step.at_ms

    def _action(self, user: UserTruth, step: Step) -> None:
        doc = step.event or {}
        user.actions[step.kind] += 1
        if step.kind == "mark_watched":
            user.marked_watched.append(dict(doc["target"]))
        elif step.kind == "skip":
            user.skipped.append(doc["video_id"])
        elif step.kind == "rate":
            user.ratings[doc["video_id"]] = doc["rating"]
        elif step.kind == "set_isolation":
            user.isolation[doc["device_id"]] = doc["mode"]

    def to_json(self, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """The documented truth file (docs/simulator.md): seconds, ISO times, local dates."""
        users = {uid: user_json(u) for uid, u in self.users.items() if u.events}
        sessions = sum(len(u.sessions) for u in self.users.values())
        return {
            "schema": "watchflow-simulator-truth/1",
            **(meta or {}),
            "heartbeat_interval_s": HEARTBEAT_MS / 1000,
            "default_completion_threshold": DEFAULT_COMPLETION_THRESHOLD,
            "totals": {
                "users": len(users),
                "events": self.events,
                "sessions": sessions,
                "watch_time_s": sum(u["watch_time_s"] for u in users.values()),
                "completions": sum(
                    v.completed_count for u in self.users.values() for v in u.videos.values()
                ),
            },
            "users": users,
        }
