"""Flatten wire-contract records into tier-1 rows (plain dicts keyed by ``schema`` column names).

Pure functions: no I/O, no clock. Every timestamp comes out timezone-aware in UTC, because the
tier-1 partition is the UTC date and DuckDB stores TIMESTAMPTZ as UTC instants anyway.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson

from ingest_api.contract import (
    CONTEXT_FIELDS,
    PLAYBACK_TYPES,
    AnyAction,
    AnyPlayback,
    CatalogVideo,
    Context,
    ErrorEvent,
    EventType,
    IsolationEvent,
    MilestoneRecord,
    PreferencesEvent,
    RateEvent,
    SeekEvent,
    SessionRecord,
    StartEvent,
    VideoInfo,
)

AnyEvent = AnyPlayback | AnyAction
Row = dict[str, Any]

# Fields every event maps to a column of its own; whatever else a type carries goes to ``attrs``.
_COLUMN_FIELDS = frozenset(
    {
        "event_id", "type", "ts", "user_id", "device_id", "context", "extra", "video_id",
        "session_id", "seq", "position_s", "duration_s", "playback_rate", "video",
        "from_position_s", "error", "rating", "preferences", "mode",
    }
)  # fmt: skip

VIEW_TYPES = frozenset({EventType.START, EventType.PLAY})


def utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC)


def utc_date(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def _json(value: Any) -> str | None:
    if value is None or value == {}:
        return None
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _device_type(ctx: Context | None) -> str | None:
    device_type = ctx.get("device_type") if ctx else None
    return None if device_type is None else device_type.value


def event_row(ev: AnyEvent) -> Row:
    """One ``events`` row. Type-specific fields without a column of their own go to ``attrs``."""
    ctx = ev.context
    row: Row = {
        "event_id": ev.event_id,
        "type": ev.type.value,
        "ts": utc(ev.ts),
        "user_id": ev.user_id,
        "device_id": ev.device_id,
        "video_id": getattr(ev, "video_id", None),
        "session_id": getattr(ev, "session_id", None),
        "seq": getattr(ev, "seq", None),
        "position_s": getattr(ev, "position_s", None),
        "duration_s": getattr(ev, "duration_s", None),
        "playback_rate": getattr(ev, "playback_rate", None),
        "from_position_s": ev.from_position_s if isinstance(ev, SeekEvent) else None,
        "error_code": ev.error.code if isinstance(ev, ErrorEvent) else None,
        "error_message": ev.error.message if isinstance(ev, ErrorEvent) else None,
        "device_type": _device_type(ctx),
        "referrer": ctx.get("referrer") if ctx else None,
        "app_version": ctx.get("app_version") if ctx else None,
        "tz": ctx.get("tz") if ctx else None,
        "video": None,
        "rating": ev.rating if isinstance(ev, RateEvent) else None,
        "daily_goal_minutes": None,
        "completion_threshold": None,
        "pref_tz": None,
        "playback_speed": None,
        "mode": ev.mode.value if isinstance(ev, IsolationEvent) else None,
        "attrs": None,
        "extra": _json(ev.extra),
    }
    video = getattr(ev, "video", None)
    if isinstance(video, VideoInfo):
        row["video"] = _json(video.model_dump(mode="json", exclude_none=True))
    if isinstance(ev, PreferencesEvent):
        prefs = ev.preferences
        row["daily_goal_minutes"] = prefs.daily_goal_minutes
        row["completion_threshold"] = prefs.completion_threshold
        row["pref_tz"] = prefs.tz
        row["playback_speed"] = prefs.playback_speed
    attrs: Row = {}
    if ev.type not in PLAYBACK_TYPES:  # playback fields all have columns; actions carry more
        attrs = {
            k: v
            for k, v in ev.model_dump(mode="json", exclude_none=True).items()
            if k not in _COLUMN_FIELDS
        }
    context_extra = {k: v for k, v in (ctx or {}).items() if k not in CONTEXT_FIELDS}
    if context_extra:
        attrs["context_extra"] = context_extra
    row["attrs"] = _json(attrs)
    return row


def milestone_row(m: MilestoneRecord) -> Row:
    return {
        "milestone_id": m.milestone_id,
        "milestone": m.milestone.value,
        "user_id": m.user_id,
        "video_id": m.video_id,
        "cycle": m.cycle,
        "ts": utc(m.ts),
        "device_id": m.device_id,
        "session_id": m.session_id,
        "coverage": m.coverage,
        "position_s": m.position_s,
        "watch_time_s": m.watch_time_s,
        "threshold": m.threshold,
        "rule": m.rule,
        "source_event_id": m.source_event_id,
    }


def session_row(s: SessionRecord) -> Row:
    return {
        "session_key": s.session_key,
        "user_id": s.user_id,
        "session_id": s.session_id,
        "video_id": s.video_id,
        "device_id": s.device_id,
        "started_at": utc(s.started_at),
        "ended_at": utc(s.ended_at),
        "end_reason": s.end_reason,
        "watch_time_s": s.watch_time_s,
        "played_s": s.played_s,
        "position_start_s": s.position_start_s,
        "position_end_s": s.position_end_s,
        "coverage_start": s.coverage_start,
        "coverage_end": s.coverage_end,
        "duration_s": s.duration_s,
        "device_type": s.device_type,
        "referrer": s.referrer,
        "tz": s.tz,
        "startup_time_s": s.startup_time_s,
        "rebuffer_time_s": s.rebuffer_time_s,
        "errors": s.errors,
        "played_intervals": [{"start_s": a, "end_s": b} for a, b in s.played_intervals],
        "cycle": s.cycle,
        "completed": s.completed,
    }


def _video_fields(v: VideoInfo) -> Row:
    return {
        "title": v.title,
        "source_type": v.source_type.value if v.source_type else None,
        "source_id": v.source_id,
        "creator_id": v.creator_id,
        "channel": v.channel,
        "shelf_id": v.shelf_id,
        "series_id": v.series_id,
        "season": v.season,
        "episode": v.episode,
        "course_id": v.course_id,
        "module_id": v.module_id,
        "lesson_order": v.lesson_order,
        "tags": list(v.tags) if v.tags is not None else None,
        "extra": _json(v.model_extra),
    }


def catalog_row(c: CatalogVideo) -> Row:
    """A catalog upsert: the authoritative description of a video."""
    return {
        "video_id": c.video_id,
        **_video_fields(c),
        "required": c.required,
        "duration_s": c.duration_s,
        "chapters": [
            {"title": ch.title, "start_s": ch.start_s, "end_s": ch.end_s} for ch in c.chapters
        ],
        "origin": "catalog",
        "updated_at": None,
    }


def catalog_row_from_start(ev: StartEvent) -> Row:
    """What a ``start`` event says about its video: used only for videos the catalog lacks."""
    video = ev.video or VideoInfo()
    return {
        "video_id": ev.video_id,
        **_video_fields(video),
        "required": None,
        "duration_s": ev.duration_s,
        "chapters": [],
        "origin": "event",
        "updated_at": utc(ev.ts),
    }


# Catalog attributes that change tier-2 figures (creator, channel, course, chapters, duration).
FINGERPRINT_FIELDS = (
    "creator_id",
    "channel",
    "course_id",
    "module_id",
    "lesson_order",
    "required",
    "duration_s",
    "chapters",
)
