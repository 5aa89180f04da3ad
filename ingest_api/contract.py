"""The wire contract: every event, action and catalog entry that crosses watchflow's edges.

This module is SPEC §3 and §7 in code. It imports nothing of ours and no web or stream
framework, so the API, the stream workers, the sink and the tests all share one definition.

Shapes:

- ``Event`` — a tagged union on ``type`` of playback events (``StartEvent``, ``SeekEvent``,
  ``ErrorEvent``, ``PlaybackEvent`` for the rest) and user actions (``MarkEvent``, ``RateEvent``,
  ...). Unknown top-level fields are kept, moved under ``extra``.
- ``CatalogVideo`` — one catalog upsert.
- ``MilestoneRecord`` and ``SessionRecord`` — what the stream processor emits.

The one rule that needs the server's clock (``ts`` too far ahead or too old) is
``clock_error``, which the ingest API applies after validation; a worker re-reading the log
later must accept what was accepted then.

The rules that span several fields of one object (``CROSS_FIELD_RULES``) are functions of its
validated fields, so the models apply them to their ``__dict__`` and the ingest API, which
validates to plain dicts (``ingest_api.fields_only``), applies the same functions to those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

# Topics. player-events is keyed by user_id, catalog by video_id.
TOPIC_PLAYER_EVENTS = "player-events"
TOPIC_CATALOG = "catalog"
TOPIC_MILESTONES = "watch-milestones"
TOPIC_SESSIONS = "watch-sessions"
TOPIC_DEAD_LETTER = "player-events-dlq"
# Topic settings beyond the partition count, for whoever creates a topic first.
# The catalog is compacted: the latest entry per video is the catalog.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {TOPIC_CATALOG: {"cleanup.policy": "compact"}}


def pipeline_topics(partitions: int) -> dict[str, int]:
    """Every topic of the pipeline with its partition count. Derived topics are keyed by user
    like player-events, so they get the same count (and so does the catalog, for symmetry)."""
    names = (TOPIC_PLAYER_EVENTS, TOPIC_CATALOG, TOPIC_MILESTONES, TOPIC_SESSIONS)
    return {name: partitions for name in (*names, TOPIC_DEAD_LETTER)}


MAX_EVENTS_PER_BATCH = 1000
MAX_BODY_BYTES = 1024 * 1024
# One event as published; a player's are ~300 bytes. Bounds what unknown fields can carry.
MAX_EVENT_BYTES = 100 * 1024
# A playhead or duration beyond a week is not a video, it is a bug.
MAX_MEDIA_SECONDS = 7 * 24 * 3600.0


class EventType(StrEnum):
    START = "start"
    PLAY = "play"
    PAUSE = "pause"
    HEARTBEAT = "heartbeat"
    SEEK = "seek"
    BUFFER_START = "buffer_start"
    BUFFER_END = "buffer_end"
    RATE_CHANGE = "rate_change"
    ENDED = "ended"
    STOP = "stop"
    ERROR = "error"
    MARK_WATCHED = "mark_watched"
    MARK_UNWATCHED = "mark_unwatched"
    SKIP = "skip"
    RATE = "rate"
    NOTE = "note"
    TAG = "tag"
    QUEUE_ADD = "queue_add"
    QUEUE_REMOVE = "queue_remove"
    QUEUE_MOVE = "queue_move"
    BOOKMARK = "bookmark"
    SET_PREFERENCES = "set_preferences"
    SET_ISOLATION = "set_isolation"


PLAYBACK_TYPES = frozenset(
    {
        EventType.START,
        EventType.PLAY,
        EventType.PAUSE,
        EventType.HEARTBEAT,
        EventType.SEEK,
        EventType.BUFFER_START,
        EventType.BUFFER_END,
        EventType.RATE_CHANGE,
        EventType.ENDED,
        EventType.STOP,
        EventType.ERROR,
    }
)


class SourceType(StrEnum):
    YOUTUBE = "youtube"
    MUX = "mux"
    LOOM = "loom"
    VIMEO = "vimeo"
    WISTIA = "wistia"
    UPLOAD = "upload"


class DeviceType(StrEnum):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    TV = "tv"


class IsolationMode(StrEnum):
    """Seed 004's device modes: does this device share its activity, and see others'?"""

    SILO = "silo"  # shares nothing, sees nothing from other devices
    QUIET = "quiet"  # does not share, sees others
    LOUD = "loud"  # shares and sees (default)
    SHOUT = "shout"  # shares, does not see others


class MarkTargetKind(StrEnum):
    VIDEO = "video"
    SEASON = "season"
    SERIES = "series"
    SHELF = "shelf"


Id = Annotated[str, Field(min_length=1, max_length=128)]
Seconds = Annotated[float, Field(ge=0.0, le=MAX_MEDIA_SECONDS, allow_inf_nan=False)]
PositiveSeconds = Annotated[float, Field(gt=0.0, le=MAX_MEDIA_SECONDS, allow_inf_nan=False)]
Rate = Annotated[float, Field(gt=0.0, le=16.0, allow_inf_nan=False)]


_KNOWN_ZONES: set[str] = set()


def _check_tz(name: str | None) -> str | None:
    # Every event may carry a tz: remember the good names so the common case is a set lookup.
    if name is None or name in _KNOWN_ZONES:
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc
    if len(_KNOWN_ZONES) < 10_000:
        _KNOWN_ZONES.add(name)
    return name


class _Open(BaseModel):
    """Nested objects keep fields they do not know, so newer players lose nothing."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)


class VideoInfo(_Open):
    title: Annotated[str, Field(max_length=1000)] | None = None
    source_type: SourceType | None = None
    source_id: Annotated[str, Field(max_length=256)] | None = None
    creator_id: Id | None = None
    channel: Annotated[str, Field(max_length=256)] | None = None
    shelf_id: Id | None = None
    series_id: Id | None = None
    season: Annotated[int, Field(ge=0, le=10_000)] | None = None
    episode: Annotated[int, Field(ge=0, le=100_000)] | None = None
    course_id: Id | None = None
    module_id: Id | None = None
    lesson_order: Annotated[int, Field(ge=0, le=100_000)] | None = None
    tags: Annotated[list[Annotated[str, Field(max_length=128)]], Field(max_length=64)] | None = None


class Context(TypedDict, total=False):
    """Where an event came from. A TypedDict, not a model: nearly every event carries one,
    and a nested model instance cost ~1.3 µs an event to build against ~0.3 µs for a dict.
    Unknown keys are kept."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    device_type: DeviceType | None
    referrer: Annotated[str, Field(max_length=128)] | None
    app_version: Annotated[str, Field(max_length=64)] | None
    tz: Annotated[str | None, AfterValidator(_check_tz)]


CONTEXT_FIELDS = frozenset(Context.__annotations__) - {"__pydantic_config__"}


class PlayerError(_Open):
    code: Annotated[str, Field(min_length=1, max_length=128)]
    message: Annotated[str, Field(max_length=4096)] = ""


@dataclass(frozen=True, slots=True)
class ValidationContext:
    """The server's view at ingest: its clock and how far ``ts`` may stray from it."""

    now: datetime
    max_age: timedelta = timedelta(days=7)
    max_ahead: timedelta = timedelta(hours=24)


class _EventBase(BaseModel):
    """Fields every event carries (SPEC §3, "Common fields of every event").

    Unknown top-level fields are allowed (pydantic keeps them in ``model_extra``, natively and
    fast); on the wire they travel under ``extra`` — see ``wire_dict``.
    """

    model_config = ConfigDict(frozen=True, allow_inf_nan=False, extra="allow")

    event_id: Annotated[str, Field(min_length=8, max_length=64)]
    ts: AwareDatetime
    user_id: Id
    device_id: Id
    context: Context | None = None
    extra: dict[str, Any] | None = None

    def unknown_fields(self) -> dict[str, Any]:
        """Fields this contract does not define: earlier ``extra`` plus any new ones."""
        return {**(self.extra or {}), **(self.model_extra or {})}


def clock_error(ts: datetime, ctx: ValidationContext) -> str | None:
    """Why an event's ``ts`` is unacceptable at ingest time, or None (SPEC §3, ``ts`` rule)."""
    if ts - ctx.now > ctx.max_ahead:
        return f"ts: more than {_human(ctx.max_ahead)} ahead of server time {ctx.now.isoformat()}"
    if ctx.now - ts > ctx.max_age:
        return (
            f"ts: older than the late-event limit of {_human(ctx.max_age)}; "
            "events this late are not accepted"
        )
    return None


def wire_dict(raw: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The record to publish for a valid ``raw`` event: as sent, with every field that is not
    one of the contract's ``fields`` (a model's ``__dict__``, or the fields-only validation's
    dict) moved under ``extra``, after the ``extra`` it already had."""
    new = {k: v for k, v in raw.items() if k not in fields}
    if not new:
        return raw
    out = {k: v for k, v in raw.items() if k in fields}
    out["extra"] = {**(fields.get("extra") or {}), **new}
    return out


def _human(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} h"


_Fields = TypeVar("_Fields", bound=Mapping[str, Any])


def _position_within_duration(fields: _Fields) -> _Fields:
    # Players overshoot the end by a little; far beyond it is a broken client.
    d = fields.get("duration_s")
    position = fields["position_s"]
    if d is not None and position > d * 1.1 + 10.0:
        raise ValueError(f"position_s: {position:g} is far beyond duration_s {d:g}")
    return fields


class _PlaybackBase(_EventBase):
    video_id: Id
    session_id: Annotated[str, Field(min_length=1, max_length=128)]
    seq: Annotated[int, Field(ge=0, strict=True)]
    position_s: Seconds
    duration_s: PositiveSeconds | None = None
    playback_rate: Rate = 1.0
    video: VideoInfo | None = None

    @model_validator(mode="after")
    def _cross_field_rules(self) -> _PlaybackBase:
        _position_within_duration(self.__dict__)
        return self


class StartEvent(_PlaybackBase):
    type: Literal[EventType.START]
    duration_s: PositiveSeconds


class SeekEvent(_PlaybackBase):
    type: Literal[EventType.SEEK]
    from_position_s: Seconds


class ErrorEvent(_PlaybackBase):
    type: Literal[EventType.ERROR]
    error: PlayerError


class PlaybackEvent(_PlaybackBase):
    type: Literal[
        EventType.PLAY,
        EventType.PAUSE,
        EventType.HEARTBEAT,
        EventType.BUFFER_START,
        EventType.BUFFER_END,
        EventType.RATE_CHANGE,
        EventType.ENDED,
        EventType.STOP,
    ]


class MarkTarget(BaseModel):
    """What a mark_watched / mark_unwatched applies to (seed 004's hierarchy)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: MarkTargetKind
    video_id: Id | None = None
    series_id: Id | None = None
    season: Annotated[int, Field(ge=0, le=10_000)] | None = None
    shelf_id: Id | None = None

    @model_validator(mode="after")
    def _has_its_ids(self) -> MarkTarget:
        needed = {
            MarkTargetKind.VIDEO: ("video_id",),
            MarkTargetKind.SEASON: ("series_id", "season"),
            MarkTargetKind.SERIES: ("series_id",),
            MarkTargetKind.SHELF: ("shelf_id",),
        }[self.kind]
        missing = [f for f in needed if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind.value} target needs {' and '.join(missing)}")
        return self


class _ActionBase(_EventBase):
    session_id: Annotated[str, Field(max_length=128)] | None = None
    seq: Annotated[int, Field(ge=0, strict=True)] | None = None


class MarkEvent(_ActionBase):
    type: Literal[EventType.MARK_WATCHED, EventType.MARK_UNWATCHED]
    target: MarkTarget


class SkipEvent(_ActionBase):
    type: Literal[EventType.SKIP]
    video_id: Id


class RateEvent(_ActionBase):
    type: Literal[EventType.RATE]
    video_id: Id
    rating: Annotated[int, Field(ge=1, le=5, strict=True)]


class NoteEvent(_ActionBase):
    type: Literal[EventType.NOTE]
    video_id: Id
    text: Annotated[str, Field(max_length=10_000)]
    position_s: Seconds | None = None


class TagEvent(_ActionBase):
    type: Literal[EventType.TAG]
    video_id: Id
    tag: Annotated[str, Field(min_length=1, max_length=128)]
    remove: bool = False


def _move_has_position(fields: _Fields) -> _Fields:
    if fields["type"] == EventType.QUEUE_MOVE and fields.get("position") is None:
        raise ValueError("queue_move needs position")
    return fields


class QueueEvent(_ActionBase):
    type: Literal[EventType.QUEUE_ADD, EventType.QUEUE_REMOVE, EventType.QUEUE_MOVE]
    video_id: Id
    queue_id: Id = "watch_later"
    position: Annotated[int, Field(ge=0, le=100_000)] | None = None
    priority: Annotated[int, Field(ge=1, le=10)] | None = None

    @model_validator(mode="after")
    def _cross_field_rules(self) -> QueueEvent:
        _move_has_position(self.__dict__)
        return self


class BookmarkEvent(_ActionBase):
    type: Literal[EventType.BOOKMARK]
    video_id: Id
    position_s: Seconds
    label: Annotated[str, Field(max_length=256)] | None = None
    remove: bool = False


class Preferences(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    completion_threshold: Annotated[float, Field(ge=0.5, le=1.0)] | None = None
    daily_goal_minutes: Annotated[int, Field(ge=0, le=1440)] | None = None
    tz: str | None = None
    playback_speed: Rate | None = None

    @field_validator("tz")
    @classmethod
    def _known_tz(cls, v: str | None) -> str | None:
        return _check_tz(v)

    @model_validator(mode="after")
    def _not_empty(self) -> Preferences:
        if not self.model_fields_set:
            raise ValueError("set_preferences needs at least one preference")
        return self


class PreferencesEvent(_ActionBase):
    type: Literal[EventType.SET_PREFERENCES]
    preferences: Preferences


class IsolationEvent(_ActionBase):
    type: Literal[EventType.SET_ISOLATION]
    mode: IsolationMode


AnyPlayback = StartEvent | SeekEvent | ErrorEvent | PlaybackEvent
AnyAction = (
    MarkEvent
    | SkipEvent
    | RateEvent
    | NoteEvent
    | TagEvent
    | QueueEvent
    | BookmarkEvent
    | PreferencesEvent
    | IsolationEvent
)
Event = Annotated[AnyPlayback | AnyAction, Field(discriminator="type")]
EVENT: TypeAdapter[AnyPlayback | AnyAction] = TypeAdapter(Event)


class Chapter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    title: Annotated[str, Field(max_length=500)]
    start_s: Seconds
    end_s: PositiveSeconds

    @model_validator(mode="after")
    def _ordered(self) -> Chapter:
        if self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


def _chapters_inside(fields: _Fields) -> _Fields:
    duration = fields["duration_s"]
    for i, chapter in enumerate(fields.get("chapters", ())):
        if chapter.end_s > duration + 1.0:
            raise ValueError(f"chapters[{i}].end_s is beyond duration_s")
    return fields


class CatalogVideo(VideoInfo):
    """A catalog upsert: the fields of ``video`` plus duration and chapters (SPEC §3)."""

    video_id: Id
    duration_s: PositiveSeconds
    chapters: Annotated[list[Chapter], Field(max_length=1000)] = []
    required: bool | None = None  # counts toward course completion (default: yes)

    @model_validator(mode="after")
    def _cross_field_rules(self) -> CatalogVideo:
        _chapters_inside(self.__dict__)
        return self


CATALOG_VIDEO: TypeAdapter[CatalogVideo] = TypeAdapter(CatalogVideo)

# Each model's rule spanning several of its fields (its one model validator applies it to the
# model's ``__dict__``): a function of the validated fields, which raises ValueError("<field
# path>: <reason>") and returns the fields. Optional fields are read with ``.get``: a
# fields-only dict holds only the fields the client sent.
CROSS_FIELD_RULES: dict[type[BaseModel], Callable[[dict[str, Any]], dict[str, Any]]] = {
    _PlaybackBase: _position_within_duration,
    QueueEvent: _move_has_position,
    CatalogVideo: _chapters_inside,
}


class MilestoneKind(StrEnum):
    STARTED = "started"
    PROGRESS_10 = "progress_10"
    PROGRESS_25 = "progress_25"
    PROGRESS_50 = "progress_50"
    PROGRESS_75 = "progress_75"
    PROGRESS_90 = "progress_90"
    COMPLETED = "completed"
    REWATCHED = "rewatched"


class MilestoneRecord(BaseModel):
    """One record on watch-milestones; ``milestone_id`` is stable, so consumers dedupe on it."""

    model_config = ConfigDict(frozen=True)

    milestone_id: str  # f"{user_id}|{video_id}|{cycle}|{milestone}"
    milestone: MilestoneKind
    user_id: str
    video_id: str
    cycle: int
    ts: AwareDatetime  # event time of the event that crossed it
    device_id: str
    session_id: str | None = None
    coverage: float
    position_s: float
    watch_time_s: float
    threshold: float | None = None  # for "completed": the threshold that fired
    rule: str | None = None  # for "completed": which rule fired (user preference or default)
    source_event_id: str


class EraseRequest(BaseModel):
    """A control record on player-events: erase the user everywhere downstream (SPEC §7).

    Keyed by the user id like the user's events, so it lands on their partition *after*
    every event acknowledged before it: the worker drops the user's live state when it
    reaches it, the sink the user's tier-1 and tier-2 rows, and a replay of the log erases
    again. Only ``watchflow erase-user`` writes one; the ingest API never accepts it (it is
    not an event). Its value starts with ``CONTROL_PREFIX``, which no event's does."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    control: Literal["erase_user"]
    erasure_id: Annotated[str, Field(min_length=8, max_length=64)]
    user_id: Id
    requested_at: AwareDatetime


CONTROL_PREFIX = b'{"control":'


def control_of(value: bytes) -> EraseRequest | None:
    """The control request a player-events value holds, or None for an event (cheap: a prefix
    test). Raises ``ValidationError`` for a malformed control record."""
    if not value.startswith(CONTROL_PREFIX):
        return None
    return EraseRequest.model_validate_json(value)


def control_bytes(req: EraseRequest) -> bytes:
    """The record value of ``req`` (``control`` first, so ``control_of`` knows it)."""
    raw = req.__pydantic_serializer__.to_json(req)
    assert raw.startswith(CONTROL_PREFIX)
    return raw


class SessionRecord(BaseModel):
    """One closed playback session on watch-sessions (SPEC §4.3)."""

    model_config = ConfigDict(frozen=True)

    session_key: str  # f"{user_id}|{session_id}", stable: consumers dedupe on it
    user_id: str
    session_id: str
    video_id: str
    device_id: str
    started_at: AwareDatetime
    ended_at: AwareDatetime
    end_reason: Literal["stop", "idle", "replaced"]
    watch_time_s: float
    played_s: float  # media seconds played in this session
    position_start_s: float
    position_end_s: float
    coverage_start: float
    coverage_end: float
    duration_s: float | None
    device_type: str | None = None
    referrer: str | None = None
    tz: str | None = None
    startup_time_s: float | None = None  # start -> first played second
    rebuffer_time_s: float = 0.0
    errors: int = 0
    played_intervals: list[tuple[float, float]] = []  # union, for retention curves
    cycle: int = 0
    completed: bool = False


def error_messages(exc: ValidationError) -> list[str]:
    """Turn a pydantic error into ``"<field path>: <reason>"`` strings, one per problem."""
    out: list[str] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err["loc"])
        kind = err["type"]
        if kind == "union_tag_invalid":
            tag = (err.get("ctx") or {}).get("tag", "")
            out.append(f"type: unknown event type {tag!r}")
            continue
        if kind == "union_tag_not_found":
            out.append("type: field required")
            continue
        # A tagged union puts the tag first in the path; the client never wrote it.
        if loc and isinstance(loc[0], str) and loc[0] in _TAGS:
            loc = loc[1:]
        path = _path(loc)
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        out.append(f"{path}: {msg}" if path else msg)
    return out


_TAGS = frozenset(t.value for t in EventType)


def _path(loc: list[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
