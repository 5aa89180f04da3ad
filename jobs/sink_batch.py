"""The sink's pure core: Kafka records -> a batch of decoded records plus the offsets to commit
once the batch is in the warehouse. No Kafka client, no clock: time is passed in.

Offsets follow Kafka's convention: the offset committed for a partition is the *next* record to
read (the last one consumed + 1). Records that cannot be decoded still advance it (they are
counted and skipped, never retried), so a bad record is read once, not forever.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from ingest_api.contract import (
    CATALOG_VIDEO,
    TOPIC_CATALOG,
    TOPIC_MILESTONES,
    TOPIC_PLAYER_EVENTS,
    TOPIC_SESSIONS,
    CatalogVideo,
    MilestoneRecord,
    SessionRecord,
    error_messages,
)
from streams.records import BadRecord, decode_event
from warehouse.records import AnyEvent
from warehouse.tier1 import WriteResult

SINK_TOPICS = (TOPIC_PLAYER_EVENTS, TOPIC_MILESTONES, TOPIC_SESSIONS, TOPIC_CATALOG)

TP = tuple[str, int]  # (topic, partition)
Decoded = AnyEvent | MilestoneRecord | SessionRecord | CatalogVideo


def decode(topic: str, key: bytes | None, value: bytes | None) -> Decoded:
    """The record a sink topic carries; raises ``BadRecord`` saying why there is none.

    player-events follow the worker's rules exactly (``streams.records.decode_event``), so
    tier 1 holds the events the live state was built from and nothing the worker dead-lettered.
    """
    if topic == TOPIC_PLAYER_EVENTS:
        return decode_event(key, value)
    if value is None:
        raise BadRecord("value: missing (tombstone)")
    try:
        if topic == TOPIC_MILESTONES:
            return MilestoneRecord.model_validate_json(value)
        if topic == TOPIC_SESSIONS:
            return SessionRecord.model_validate_json(value)
        if topic == TOPIC_CATALOG:
            return CATALOG_VIDEO.validate_json(value)
    except ValidationError as exc:
        raise BadRecord("; ".join(error_messages(exc))) from None
    raise BadRecord(f"topic: {topic!r} is not one the sink reads")


@dataclass
class Batch:
    """Decoded records waiting for one ``write_batch``, and the offsets that write covers."""

    events: list[AnyEvent] = field(default_factory=list)
    milestones: list[MilestoneRecord] = field(default_factory=list)
    sessions: list[SessionRecord] = field(default_factory=list)
    catalog: list[CatalogVideo] = field(default_factory=list)
    records: int = 0  # consumed, good or bad
    bad: int = 0
    offsets: dict[TP, int] = field(default_factory=dict)  # next offset to read, per partition
    opened_at: float | None = None  # clock reading when the first record arrived

    def add(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        *,
        now: float,
    ) -> BadRecord | None:
        """Take one consumed record; the decoding error if it was skipped."""
        if self.opened_at is None:
            self.opened_at = now
        self.records += 1
        tp = (topic, partition)
        self.offsets[tp] = max(self.offsets.get(tp, 0), offset + 1)
        try:
            rec = decode(topic, key, value)
        except BadRecord as exc:
            self.bad += 1
            return exc
        if isinstance(rec, MilestoneRecord):
            self.milestones.append(rec)
        elif isinstance(rec, SessionRecord):
            self.sessions.append(rec)
        elif isinstance(rec, CatalogVideo):
            self.catalog.append(rec)
        else:
            self.events.append(rec)
        return None

    def due(self, now: float, max_records: int, max_seconds: float) -> bool:
        """Time to write: full, or its oldest record has waited ``max_seconds``."""
        if self.records >= max_records:
            return True
        return self.opened_at is not None and now - self.opened_at >= max_seconds

    def room(self, max_records: int) -> int:
        """How many more records to fetch before the batch is full (at least one)."""
        return max(1, max_records - self.records)


@dataclass
class SinkStats:
    """Running totals, logged now and then."""

    records_in: int = 0
    bad: int = 0
    batches: int = 0
    commits_failed: int = 0
    written: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)

    def add(self, batch: Batch, result: WriteResult) -> None:
        self.records_in += batch.records
        self.bad += batch.bad
        self.batches += 1
        self.written.update(result.written)
        self.duplicates.update(result.duplicates)

    def as_dict(self) -> dict[str, object]:
        return {
            "records_in": self.records_in,
            "bad": self.bad,
            "batches": self.batches,
            "commits_failed": self.commits_failed,
            "written": dict(self.written),
            "duplicates": dict(self.duplicates),
        }


def lag(highwater: Mapping[TP, int | None], position: Mapping[TP, int]) -> int | None:
    """Records behind the end of the log over the partitions both maps know; None if unknown."""
    known = [
        (hw, position[tp]) for tp, hw in highwater.items() if hw is not None and tp in position
    ]
    if not known:
        return None
    return sum(max(0, hw - pos) for hw, pos in known)
