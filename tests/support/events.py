"""Builders for valid events and catalog entries, so a test says only what it varies."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def event(type_: str = "heartbeat", **fields: Any) -> dict[str, Any]:
    """A valid playback event (or action, with its fields given) at NOW - 1 minute."""
    base: dict[str, Any] = {
        "event_id": f"evt-{next(_ids):010d}",
        "type": type_,
        "ts": iso(NOW - timedelta(minutes=1)),
        "user_id": "u1",
        "device_id": "d1",
    }
    if type_ in {
        "start",
        "play",
        "pause",
        "heartbeat",
        "seek",
        "buffer_start",
        "buffer_end",
        "rate_change",
        "ended",
        "stop",
        "error",
    }:
        base.update(video_id="v1", session_id="s1", seq=next(_ids), position_s=10.0)
        if type_ == "start":
            base["duration_s"] = 600.0
        if type_ == "seek":
            base["from_position_s"] = 5.0
        if type_ == "error":
            base["error"] = {"code": "E1", "message": "decode failed"}
    base.update(fields)
    return base


# The fields each user-action event type needs beyond the common ones: one valid form of each.
ACTION_FIELDS: dict[str, dict[str, Any]] = {
    "mark_watched": {"target": {"kind": "season", "series_id": "s", "season": 1}},
    "mark_unwatched": {"target": {"kind": "video", "video_id": "v1"}},
    "skip": {"video_id": "v1"},
    "rate": {"video_id": "v1", "rating": 4},
    "note": {"video_id": "v1", "text": "good part at 3:10", "position_s": 190.0},
    "tag": {"video_id": "v1", "tag": "react"},
    "queue_add": {"video_id": "v1", "queue_id": "watch_later", "priority": 7},
    "queue_remove": {"video_id": "v1"},
    "queue_move": {"video_id": "v1", "position": 0},
    "bookmark": {"video_id": "v1", "position_s": 42.0, "label": "demo"},
    "set_preferences": {"preferences": {"completion_threshold": 0.8, "tz": "Asia/Tokyo"}},
    "set_isolation": {"mode": "silo"},
}


def catalog_video(video_id: str = "v1", **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"video_id": video_id, "title": f"Video {video_id}", "duration_s": 600.0}
    doc.update(fields)
    return doc


def session_record(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The watch-sessions record the worker would emit for one whole viewing."""
    first, last = events[0], events[-1]
    watch = float(last["position_s"])
    return {
        "session_key": f"{first['user_id']}|{first['session_id']}",
        "user_id": first["user_id"], "session_id": first["session_id"],
        "video_id": first["video_id"], "device_id": first["device_id"],
        "started_at": first["ts"], "ended_at": last["ts"], "end_reason": "stop",
        "watch_time_s": watch, "played_s": watch, "position_start_s": 0.0,
        "position_end_s": watch, "coverage_start": 0.0, "coverage_end": 1.0,
        "duration_s": watch, "startup_time_s": 0.5, "played_intervals": [(0.0, watch)],
        "completed": True,
    }  # fmt: skip


def milestone(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The "started" watch-milestones record of one viewing."""
    first = events[0]
    return {
        "milestone_id": f"{first['user_id']}|{first['video_id']}|0|started",
        "milestone": "started", "user_id": first["user_id"], "video_id": first["video_id"],
        "cycle": 0, "ts": first["ts"], "device_id": first["device_id"],
        "session_id": first["session_id"], "coverage": 0.0, "position_s": 0.0,
        "watch_time_s": 0.0, "source_event_id": first["event_id"],
    }  # fmt: skip
