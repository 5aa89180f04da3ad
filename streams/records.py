"""What crosses the worker's Kafka edges, as bytes: events in, milestones, sessions and
dead letters out. Pure functions, no Faust: the agents call them, the unit tests too.

A record on ``player-events`` is either an event (``decode_event``) or a dead letter: bad
JSON, a violation of the wire contract, a missing value, or a key that is not its user_id
(the worker could not keep that user's state on the partition it arrived on).
"""

from __future__ import annotations

import base64

import orjson
from pydantic import ValidationError

from ingest_api.contract import (
    EVENT,
    EraseRequest,
    MilestoneRecord,
    SessionRecord,
    control_of,
    error_messages,
)
from streams.model.user_state import UserAction
from streams.model.watch_state import VideoEvent

Event = VideoEvent | UserAction
# EVENT.validate_json without the adapter's Python wrapper (its argument checks and keyword
# passing cost ~0.25 µs an event): the very same validator.
_validate_json = EVENT.validator.validate_json


class BadRecord(Exception):
    """A record that can never become an event: dead-letter it and move on (terminal)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def decode_event(key: bytes | None, value: bytes | None) -> Event | EraseRequest:
    """The event (or the control request: ``EraseRequest``) in a ``player-events`` record;
    raises ``BadRecord`` saying why not."""
    if value is None:
        raise BadRecord("value: missing (tombstone)")
    try:
        ev: Event | EraseRequest = _validate_json(value)
    except ValidationError as exc:
        # not an event: a control record (tested only now, so events pay nothing for it)?
        try:
            control = control_of(value)
        except ValidationError as bad:
            raise BadRecord("; ".join(error_messages(bad))) from None
        if control is None:
            raise BadRecord("; ".join(error_messages(exc))) from None
        ev = control
    if key is not None and key != ev.user_id.encode():
        # Its partition was chosen by another key: this user's state lives elsewhere.
        raise BadRecord(f"key: {key!r} is not the event's user_id")
    return ev


def dead_letter(
    error: str, *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
) -> bytes:
    """The dead-letter record for a record that could not be processed (JSON)."""
    doc = {
        "error": error,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key_b64": None if key is None else base64.b64encode(key).decode(),
        "value_b64": None if value is None else base64.b64encode(value).decode(),
    }
    return orjson.dumps(doc)


def milestone_bytes(rec: MilestoneRecord) -> bytes:
    return rec.__pydantic_serializer__.to_json(rec)


def session_bytes(rec: SessionRecord) -> bytes:
    return rec.__pydantic_serializer__.to_json(rec)
