"""A request body becomes exactly the records and rejections SPEC §3 and §7 call for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from ingest_api.batches import Batch, catalog_batch, events_batch
from ingest_api.contract import CONTROL_PREFIX, EraseRequest, ValidationContext
from streams.records import decode_event
from tests.support.events import NOW, catalog_video, event

CTX = ValidationContext(now=NOW + timedelta(milliseconds=500))
HI = CTX.now + CTX.max_ahead  # the latest ts accepted
LO = CTX.now - CTX.max_age  # the oldest ts accepted
MS = timedelta(milliseconds=1)


def batch_of(*docs: dict[str, Any], ctx: ValidationContext = CTX) -> Batch:
    return events_batch(orjson.dumps({"events": list(docs)}), ctx)


def zulu_ms(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# How players write a timestamp: the fast UTC form and every other form the contract accepts.
FORMATS = {
    "Z, milliseconds": zulu_ms,
    "Z, microseconds": lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    "+00:00": lambda t: t.isoformat(),
    "+02:00": lambda t: t.astimezone(_plus_two()).isoformat(),
    "lower-case t": lambda t: zulu_ms(t).replace("T", "t"),
    "lower-case z": lambda t: zulu_ms(t).replace("Z", "z"),
    "space": lambda t: zulu_ms(t).replace("T", " "),
}


def _plus_two() -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=2))


@pytest.mark.parametrize("form", FORMATS)
def test_a_ts_a_millisecond_outside_the_window_is_rejected_with_its_field(form: str) -> None:
    write = FORMATS[form]
    ahead, late = event(ts=write(HI + MS)), event(ts=write(LO - MS))
    batch = batch_of(ahead, late)
    assert batch.records == []
    assert [r.error.split(":")[0] for r in batch.rejected] == ["ts", "ts"]
    assert "ahead of server time" in batch.rejected[0].error
    assert "late-event limit" in batch.rejected[1].error
    assert [r.event_id for r in batch.rejected] == [ahead["event_id"], late["event_id"]]


@pytest.mark.parametrize("form", FORMATS)
def test_a_ts_at_or_just_inside_either_end_of_the_window_is_accepted(form: str) -> None:
    write = FORMATS[form]
    docs = [event(ts=write(t)) for t in (HI, HI - MS, LO + MS, CTX.now, LO + timedelta(days=3))]
    batch = batch_of(*docs)
    assert batch.rejected == []
    assert len(batch.records) == len(docs)


def test_a_ts_as_unix_seconds_or_without_seconds_is_judged_by_its_time() -> None:
    inside = [event(ts=int(NOW.timestamp())), event(ts=NOW.strftime("%Y-%m-%dT%H:%MZ"))]
    outside = [
        event(ts=int((HI + timedelta(seconds=1)).timestamp())),
        event(ts=LO.strftime("%Y-%m-%dT%H:%MZ")),  # LO's minute: half a second too old
        event(ts=(HI + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%MZ")),
    ]
    batch = batch_of(*inside, *outside)
    assert len(batch.records) == 2
    assert [(r.index, r.error[:3]) for r in batch.rejected] == [(2, "ts:"), (3, "ts:"), (4, "ts:")]


def test_events_are_published_byte_for_byte_as_sent_keyed_by_user() -> None:
    docs = [event(user_id="alice"), event("start", user_id="bob", video={"title": "t"})]
    batch = batch_of(*docs)
    assert batch.records == [(d["user_id"].encode(), orjson.dumps(d)) for d in docs]
    assert batch.devices == ["d1", "d1"]


def test_unknown_fields_move_under_extra_after_the_extra_already_sent() -> None:
    doc = event(extra={"abr": 3}, player_version="9.1", context={"tz": "UTC", "cdn": "e4"})
    [(_, value)] = batch_of(doc).records
    published = orjson.loads(value)
    assert published["extra"] == {"abr": 3, "player_version": "9.1"}
    assert "player_version" not in published
    assert published["context"] == {"tz": "UTC", "cdn": "e4"}  # nested unknowns stay put


def test_defaults_are_not_added_to_what_is_published() -> None:
    doc = event()  # no playback_rate, context or video: the workers apply the defaults
    [(_, value)] = batch_of(doc).records
    assert orjson.loads(value) == doc


def test_catalog_entries_are_keyed_by_video_with_unknown_fields_under_extra() -> None:
    bad = catalog_video("v8")
    del bad["video_id"]
    body = orjson.dumps({"videos": [catalog_video("v9", studio="acme"), bad]})
    batch = catalog_batch(body)
    [(key, value)] = batch.records
    assert key == b"v9"
    assert orjson.loads(value)["extra"] == {"studio": "acme"}
    assert [(r.index, r.error) for r in batch.rejected] == [(1, "video_id: Field required")]


def test_a_player_cannot_smuggle_an_erase_request_through_the_api() -> None:
    """Only `watchflow erase-user` writes control records: a player's top-level "control"
    field is an unknown field like any other, kept under extra, so what the API publishes is
    an event to the worker, never an erasure."""
    doc = {"control": "erase_user", "erasure_id": "erasure-0001", **event(user_id="alice")}
    [(key, value)] = batch_of(doc).records
    assert not value.startswith(CONTROL_PREFIX)
    assert orjson.loads(value)["extra"]["control"] == "erase_user"
    assert not isinstance(decode_event(key, value), EraseRequest)
