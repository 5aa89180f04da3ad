"""What the live reads answer (SPEC §6), as JSON-ready dicts. Pure: states in, dicts out.

``reads.py`` serves these over HTTP from the worker that owns the user; the API passes the
bodies through unchanged. Times are RFC 3339 UTC strings, durations seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from streams.model import continue_watching, devices, next_up, video_state
from streams.model.catalog import CatalogView
from streams.model.rules import Rules
from streams.model.user_state import EMPTY as NO_USER
from streams.model.user_state import UserState
from streams.model.video_state import EMPTY as NO_VIDEO
from streams.model.video_state import VideoState

StateOf = Callable[[str], VideoState | None]


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def video(
    user_id: str,
    video_id: str,
    st: VideoState | None,
    user: UserState | None,
    device_id: str | None,
) -> dict[str, Any]:
    """The live watch state of (user, video), as seen on ``device_id`` (None: all devices).

    A video the user never touched reads as ``unwatched`` with zero figures.
    """
    st = NO_VIDEO if st is None else st
    v = video_state.view(st)
    doc: dict[str, Any] = {
        "user_id": user_id,
        "video_id": video_id,
        "device_id": device_id,
        "status": v.status.value,
        "position_s": v.position_s,
        "coverage": v.coverage,
        "watch_time_s": v.watch_time_s,
        "completed_count": v.completed_count,
        "cycle": v.cycle,
        "last_watched_at": _iso(v.last_watched_at),
        "duration_s": v.duration_s,
        "threshold": v.threshold,
        "rule": v.rule,
        "milestones": list(v.milestones),
        "played_intervals": [list(iv) for iv in v.played_intervals],
    }
    if device_id is not None:
        modes = (NO_USER if user is None else user).modes
        d = devices.view_on(st, device_id, modes)
        doc["status"] = d.status.value
        doc["position_s"] = d.position_ms / 1000
        doc["last_watched_at"] = _iso(video_state.utc(d.last_ms))
    return doc


def resume_list(
    user_id: str,
    user: UserState | None,
    device_id: str | None,
    states: StateOf,
    catalog: CatalogView,
    rules: Rules,
    limit: int,
) -> dict[str, Any]:
    """Continue watching on ``device_id`` (SPEC §4.4), latest first."""
    items = continue_watching.continue_watching(
        NO_USER if user is None else user, device_id, states, catalog, rules, limit
    )
    return {
        "user_id": user_id,
        "device_id": device_id,
        "items": [
            {
                "video_id": i.video_id,
                "position_s": i.position_s,
                "duration_s": i.duration_s,
                "progress": round(i.progress, 6),
                "last_activity": _iso(i.last_activity),
                "device_id": i.device_id,
            }
            for i in items
        ],
    }


def up_next(
    user_id: str,
    user: UserState | None,
    device_id: str | None,
    states: StateOf,
    catalog: CatalogView,
    rules: Rules,
    limit: int,
) -> dict[str, Any]:
    """Next up on ``device_id`` (SPEC §4.4): series, then movies in progress, then queues."""
    items = next_up.next_up(
        NO_USER if user is None else user, device_id, catalog, states, rules, limit
    )
    return {
        "user_id": user_id,
        "device_id": device_id,
        "items": [
            {
                "video_id": i.video_id,
                "reason": i.reason.value,
                "series_id": i.series_id,
                "position_s": i.position_s,
                "last_activity": _iso(i.last_activity),
                "queue_id": i.queue_id,
            }
            for i in items
        ],
    }


def history(user_id: str, sessions: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """The user's latest plays (closed sessions), newest first."""
    return {"user_id": user_id, "sessions": sessions[:limit]}
