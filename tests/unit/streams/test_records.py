"""Decoding player-events records, and what a dead letter carries."""

from __future__ import annotations

import base64

import orjson
import pytest

from ingest_api.contract import EVENT
from streams import records
from streams.records import BadRecord
from tests.support.events import event


def test_a_valid_record_decodes_to_its_event() -> None:
    e = event("heartbeat", user_id="alice")
    ev = records.decode_event(b"alice", orjson.dumps(e))
    assert ev.event_id == e["event_id"]
    assert ev.user_id == "alice"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (b'{"event_id": ', "Invalid JSON"),
        (orjson.dumps({"type": "warp"}), "type: unknown event type 'warp'"),
        (orjson.dumps({**event("heartbeat"), "position_s": -1}), "position_s:"),
        (None, "value: missing"),
    ],
)
def test_what_cannot_be_an_event_is_a_bad_record_saying_why(
    value: bytes | None, error: str
) -> None:
    with pytest.raises(BadRecord) as info:
        records.decode_event(b"u1", value)
    assert error in info.value.error


def test_a_record_keyed_by_another_user_is_a_bad_record() -> None:
    with pytest.raises(BadRecord, match="not the event's user_id"):
        records.decode_event(b"mallory", orjson.dumps(event("heartbeat", user_id="alice")))


def test_a_dead_letter_keeps_the_error_the_place_and_the_original_bytes() -> None:
    doc = orjson.loads(
        records.dead_letter(
            "bad", topic="player-events", partition=3, offset=42, key=b"u1", value=b"\xff{"
        )
    )
    assert doc["error"] == "bad"
    assert (doc["topic"], doc["partition"], doc["offset"]) == ("player-events", 3, 42)
    assert base64.b64decode(doc["value_b64"]) == b"\xff{"
    assert base64.b64decode(doc["key_b64"]) == b"u1"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"ts": "2026-13-01T00:00:00Z"}, "ts:"),
        ({"seq": 1.5}, "seq:"),
        ({"playback_rate": 0}, "playback_rate:"),
        ({"context": {"tz": "Mars/Olympus"}}, "context.tz:"),
    ],
)
def test_a_malformed_playback_record_is_a_bad_record_naming_its_field(
    fields: dict[str, object], error: str
) -> None:
    value = orjson.dumps({**event("heartbeat", user_id="u1"), **fields})
    with pytest.raises(BadRecord) as info:
        records.decode_event(b"u1", value)
    assert info.value.error.startswith(error)


def test_a_record_decodes_to_the_contracts_own_event() -> None:
    value = orjson.dumps(event("seek", user_id="u1", context={"device_type": "tv", "tz": "UTC"}))
    assert records.decode_event(b"u1", value) == EVENT.validate_json(value)
