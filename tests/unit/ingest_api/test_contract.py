"""The wire contract accepts what SPEC §3 allows and names the field of everything it refuses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from ingest_api.contract import (
    CATALOG_VIDEO,
    EVENT,
    EventType,
    MarkEvent,
    StartEvent,
    ValidationContext,
    clock_error,
    error_messages,
    wire_dict,
)
from tests.support.events import ACTION_FIELDS, NOW, catalog_video, event, iso

CTX = ValidationContext(now=NOW)


def errors_of(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        EVENT.validate_python(doc)
    return error_messages(info.value)


def clock_errors_of(doc: dict[str, Any], ctx: ValidationContext = CTX) -> str | None:
    return clock_error(EVENT.validate_python(doc).ts, ctx)


def test_every_event_type_has_a_valid_form() -> None:
    for type_ in EventType:
        doc = event(type_.value, **ACTION_FIELDS.get(type_.value, {}))
        assert EVENT.validate_python(doc).type == type_


def test_start_requires_duration() -> None:
    doc = event("start")
    del doc["duration_s"]
    assert errors_of(doc) == ["duration_s: Field required"]


def test_playback_event_requires_video_position_and_session() -> None:
    doc = event("heartbeat")
    for name in ("video_id", "position_s", "session_id", "seq"):
        del doc[name]
    assert sorted(errors_of(doc)) == [
        "position_s: Field required",
        "seq: Field required",
        "session_id: Field required",
        "video_id: Field required",
    ]


def test_unknown_type_is_rejected_by_name() -> None:
    assert errors_of(event("rewind")) == ["type: unknown event type 'rewind'"]


def test_missing_type_is_rejected() -> None:
    doc = event()
    del doc["type"]
    assert errors_of(doc) == ["type: field required"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("position_s", float("nan"), "position_s: Input should be a finite number"),
        ("position_s", -1.0, "position_s: Input should be greater than or equal to 0"),
        ("playback_rate", 0.0, "playback_rate: Input should be greater than 0"),
        ("playback_rate", 17.0, "playback_rate: Input should be less than or equal to 16"),
        ("seq", -1, "seq: Input should be greater than or equal to 0"),
        ("seq", 1.5, "seq: Input should be a valid integer"),
        ("event_id", "short", "event_id: String should have at least 8 characters"),
        ("user_id", "", "user_id: String should have at least 1 character"),
        ("user_id", "x" * 129, "user_id: String should have at most 128 characters"),
        ("ts", "2026-11-21T11:00:00", "ts: Input should have timezone info"),
    ],
)
def test_absurd_values_are_rejected_with_their_field(field: str, value: Any, message: str) -> None:
    assert errors_of(event(**{field: value})) == [message]


def test_position_far_beyond_duration_is_rejected() -> None:
    assert errors_of(event(position_s=5000.0, duration_s=600.0)) == [
        "position_s: 5000 is far beyond duration_s 600"
    ]


def test_position_slightly_past_the_end_is_a_normal_overshoot() -> None:
    assert EVENT.validate_python(event("ended", position_s=601.5, duration_s=600.0))


def test_events_more_than_a_day_ahead_are_rejected() -> None:
    error = clock_errors_of(event(ts=iso(NOW + timedelta(hours=25))))
    assert error is not None
    assert error.startswith("ts: more than 24 h ahead of server time")
    assert clock_errors_of(event(ts=iso(NOW + timedelta(hours=23)))) is None


def test_events_older_than_the_late_limit_are_rejected_with_a_clear_error() -> None:
    assert clock_errors_of(event(ts=iso(NOW - timedelta(days=8)))) == (
        "ts: older than the late-event limit of 7 days; events this late are not accepted"
    )
    assert clock_errors_of(event(ts=iso(NOW - timedelta(days=6)))) is None


def test_the_late_limit_is_configurable() -> None:
    ctx = ValidationContext(now=NOW, max_age=timedelta(days=30))
    assert clock_errors_of(event(ts=iso(NOW - timedelta(days=8))), ctx) is None


def test_replaying_old_events_validates_them_without_a_server_clock() -> None:
    doc = event(ts=iso(NOW - timedelta(days=400)))
    assert EVENT.validate_python(doc).user_id == "u1"


def test_unknown_fields_are_kept_in_extra() -> None:
    doc = event("start", player_version="9.1", abr={"level": 3})
    parsed = EVENT.validate_python(doc)
    assert isinstance(parsed, StartEvent)
    assert parsed.unknown_fields() == {"player_version": "9.1", "abr": {"level": 3}}
    wire = wire_dict(doc, parsed.__dict__)
    assert wire["extra"] == {"player_version": "9.1", "abr": {"level": 3}}
    assert "player_version" not in wire
    # Read back from the wire, the same unknown fields are found under extra.
    assert EVENT.validate_python(wire).unknown_fields() == parsed.unknown_fields()


def test_unknown_nested_video_fields_survive() -> None:
    doc = event("start", video={"title": "t", "resolution": "4k"})
    parsed = EVENT.validate_python(doc)
    assert parsed.model_dump(mode="json")["video"]["resolution"] == "4k"


def test_time_zone_must_be_an_iana_name() -> None:
    assert errors_of(event(context={"tz": "Mars/Olympus"})) == [
        "context.tz: unknown IANA time zone 'Mars/Olympus'"
    ]


def test_nested_enum_errors_carry_the_full_path() -> None:
    errors = errors_of(event("start", video={"source_type": "myspace"}))
    assert errors[0].startswith("video.source_type: Input should be")


def test_mark_target_needs_the_ids_of_its_level() -> None:
    doc = event("mark_watched", target={"kind": "season", "series_id": "s1"})
    assert errors_of(doc) == ["target: a season target needs season"]
    ok = event("mark_watched", target={"kind": "series", "series_id": "s1"})
    assert isinstance(EVENT.validate_python(ok), MarkEvent)


def test_rating_is_one_to_five() -> None:
    assert errors_of(event("rate", video_id="v1", rating=6)) == [
        "rating: Input should be less than or equal to 5"
    ]


def test_queue_priority_is_one_to_ten() -> None:
    assert errors_of(event("queue_add", video_id="v1", priority=11)) == [
        "priority: Input should be less than or equal to 10"
    ]


def test_empty_preferences_are_refused() -> None:
    assert errors_of(event("set_preferences", preferences={})) == [
        "preferences: set_preferences needs at least one preference"
    ]


def test_isolation_mode_is_one_of_the_four() -> None:
    errors = errors_of(event("set_isolation", mode="whisper"))
    assert errors[0].startswith("mode: Input should be 'silo', 'quiet', 'loud' or 'shout'")


def test_catalog_chapters_must_lie_inside_the_video() -> None:
    doc = catalog_video(chapters=[{"title": "intro", "start_s": 0, "end_s": 700}])
    with pytest.raises(ValidationError) as info:
        CATALOG_VIDEO.validate_python(doc)
    assert error_messages(info.value) == ["chapters[0].end_s is beyond duration_s"]


def test_catalog_chapter_must_end_after_it_starts() -> None:
    doc = catalog_video(chapters=[{"title": "c", "start_s": 30, "end_s": 10}])
    with pytest.raises(ValidationError) as info:
        CATALOG_VIDEO.validate_python(doc)
    assert error_messages(info.value) == ["chapters[0]: end_s must be after start_s"]


def test_unknown_context_fields_survive() -> None:
    doc = event(context={"tz": "Asia/Tokyo", "cdn": "edge-4"})
    parsed = EVENT.validate_python(doc)
    assert parsed.context == {"tz": "Asia/Tokyo", "cdn": "edge-4"}
