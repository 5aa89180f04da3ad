"""The ingest API's fields-only validation accepts and refuses exactly what the contract does."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from ingest_api.batches import CATALOG_VIDEO_FIELDS, EVENT_FIELDS
from ingest_api.contract import CATALOG_VIDEO, EVENT, EventType, error_messages
from ingest_api.fields_only import fields_only
from tests.support.events import ACTION_FIELDS, catalog_video, event

# Values that break some rule of nearly every field they replace.
BAD_VALUES: tuple[Any, ...] = (None, "", -1, 10**9, float("nan"), "x" * 300, [], {"a": 1}, True)


def valid_events() -> list[dict[str, Any]]:
    docs = [event(t.value, **ACTION_FIELDS.get(t.value, {})) for t in EventType]
    docs.append(event("start", video={"title": "t", "season": 2, "resolution": "4k"}))
    docs.append(event(context={"tz": "Asia/Tokyo", "device_type": "tv", "cdn": "edge-4"}))
    docs.append(event("play", player_version="9.1", extra={"abr": 3}, duration_s=60.0))
    return docs


def broken_events() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        event(position_s=700.0, duration_s=600.0),  # far beyond the duration
        event("queue_move", video_id="v1"),  # a move without a position
        event("rewind"),
        {"event_id": "e" * 10},
        event(context={"tz": "Mars/Olympus"}),
        event("start", video={"source_type": "myspace"}),
        event("set_preferences", preferences={}),
        event("mark_watched", target={"kind": "season", "series_id": "s1"}),
    ]
    for doc in valid_events():
        for name in doc:
            if name == "type":
                continue
            missing = dict(doc)
            del missing[name]
            docs.append(missing)
            docs.extend({**doc, name: bad} for bad in BAD_VALUES)
    return docs


def outcome(validate: Any, doc: dict[str, Any]) -> tuple[bool, Any]:
    try:
        return True, validate(doc)
    except ValidationError as exc:
        return False, error_messages(exc)


def test_each_event_is_accepted_or_refused_as_the_contract_would_with_its_errors() -> None:
    corpus = valid_events() + broken_events()
    mismatches = []
    for doc in corpus:
        ok, model = outcome(EVENT.validate_python, doc)
        fields_ok, fields = outcome(EVENT_FIELDS.validate_python, doc)
        # Accepted: the contract's fields the event set, validated as the model has them.
        expected = {k: v for k, v in model.__dict__.items() if k in doc} if ok else model
        if (fields_ok, fields) != (ok, expected):
            mismatches.append((doc, (ok, expected), (fields_ok, fields)))
    assert mismatches == []
    accepted = sum(outcome(EVENT.validate_python, d)[0] for d in corpus)
    assert accepted > 10 and len(corpus) - accepted > 100  # the corpus holds both kinds


@pytest.mark.parametrize(
    "doc",
    [
        catalog_video(chapters=[{"title": "intro", "start_s": 0, "end_s": 30}], extra_col=1),
        catalog_video(chapters=[{"title": "intro", "start_s": 0, "end_s": 700}]),
        catalog_video(chapters=[{"title": "c", "start_s": 30, "end_s": 10}]),
        catalog_video(duration_s=-1),
        {"title": "no id"},
    ],
)
def test_a_catalog_entry_is_judged_as_the_contract_would(doc: dict[str, Any]) -> None:
    ok, model = outcome(CATALOG_VIDEO.validate_python, doc)
    fields_ok, fields = outcome(CATALOG_VIDEO_FIELDS.validate_python, doc)
    expected = {k: v for k, v in model.__dict__.items() if k in doc} if ok else model
    assert (fields_ok, fields) == (ok, expected)


def test_a_model_validator_that_is_not_a_cross_field_rule_is_refused_at_import() -> None:
    # Otherwise the API would silently skip a rule that the workers apply.
    class Checked(BaseModel):
        a: int

        @model_validator(mode="after")
        def _positive(self) -> Checked:
            return self

    with pytest.raises(TypeError, match="CROSS_FIELD_RULES"):
        fields_only(TypeAdapter(Checked), (Checked,))


def test_an_aliased_field_is_refused_at_import() -> None:
    class Aliased(BaseModel):
        model_config = ConfigDict(extra="allow")
        a: int = Field(alias="b")

    with pytest.raises(TypeError, match="alias"):
        fields_only(TypeAdapter(Aliased), (Aliased,))
