"""The sink's pure core: Kafka records -> a batch of decoded records plus the offsets to commit
once the batch is in the warehouse. No Kafka client, no clock: time is passed in.

Offsets follow Kafka's convention: the offset committed for a partition is the *next* record to
read (the last one consumed + 1). Records that cannot be decoded still advance it (they are
counted and skipped, never retried), so a bad record is read once, not forever.

An erase request on player-events (``EraseRequest``, SPEC §7) closes the batch: the user's rows
the batch holds are dropped there and then (they are older than the request), and the batch
keeps an ``Erasure`` so the sink erases the user's stored rows once the batch is written, before
it commits the offsets, request included. Rows of the user after the request go to the next
batch, so they survive the erase.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from pydantic import ValidationError

from ingest_api.contract import (
    CATALOG_VIDEO,
    TOPIC_CATALOG,
    TOPIC_MILESTONES,
    TOPIC_PLAYER_EVENTS,
    TOPIC_SESSIONS,
    CatalogVideo,
    EraseRequest,
    MilestoneRecord,
    SessionRecord,
    error_messages,
)
from streams.records import BadRecord, decode_event
from warehouse.records import AnyEvent
from warehouse.tier1 import WriteResult

SINK_TOPICS = (TOPIC_PLAYER_EVENTS, TOPIC_MILESTONES, TOPIC_SESSIONS, TOPIC_CATALOG)

TP = tuple[str, int]  # (topic, partition)
Decoded = AnyEvent | EraseRequest | MilestoneRecord | SessionRecord | CatalogVideo


def decode(topic: str, key: bytes | None, value: bytes | None) -> Decoded:
    """The record a sink topic carries; raises ``BadRecord`` saying why there is none.

    player-events follow the worker's rules exactly (``streams.records.decode_event``), so
    tier 1 holds the events the live state was built from and nothing the worker dead-lettered,
    and the sink erases exactly when the worker does: an ``EraseRequest`` (a control record,
    recognised by ``control_of`` only once a value failed to be an event, so events pay
    nothing for it) keyed by its user; a malformed one is a ``BadRecord`` like any other.
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


@dataclass(frozen=True, slots=True)
class Erasure:
    """An erase request a batch reached: where it was, and the user's rows it dropped from the
    batch (per table, never written). The sink erases the user's stored rows after the write."""

    request: EraseRequest
    topic: str
    partition: int
    offset: int
    dropped: dict[str, int]


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
    erasures: list[Erasure] = field(default_factory=list)  # to carry out after the write

    def add(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        *,
        now: float,
    ) -> BadRecord | Erasure | None:
        """Take one consumed record; the decoding error if it was skipped, the ``Erasure`` if
        it was an erase request (write the batch now: it must not take anything after it)."""
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
        # The hot path: events are told apart by topic and an identity test, with no
        # isinstance (pydantic models make it slow), so the erase request costs them nothing.
        if topic == TOPIC_PLAYER_EVENTS:
            if type(rec) is EraseRequest:
                return self._erase(rec, topic, partition, offset)
            self.events.append(rec)  # type: ignore[arg-type]  # not an EraseRequest
        elif isinstance(rec, MilestoneRecord):
            self.milestones.append(rec)
        elif isinstance(rec, SessionRecord):
            self.sessions.append(rec)
        elif isinstance(rec, CatalogVideo):
            self.catalog.append(rec)
        return None

    def _erase(self, req: EraseRequest, topic: str, partition: int, offset: int) -> Erasure:
        """Drop the user's rows from the batch: all of them came before ``req``."""
        uid = req.user_id
        counts = (
            ("events", _drop_user(self.events, uid)),
            ("milestones", _drop_user(self.milestones, uid)),
            ("sessions", _drop_user(self.sessions, uid)),
        )
        dropped = {table: n for table, n in counts if n}
        erasure = Erasure(req, topic, partition, offset, dropped)
        self.erasures.append(erasure)
        return erasure

    def due(self, now: float, max_records: int, max_seconds: float) -> bool:
        """Time to write: full, or its oldest record has waited ``max_seconds``."""
        if self.records >= max_records:
            return True
        return self.opened_at is not None and now - self.opened_at >= max_seconds

    def room(self, max_records: int) -> int:
        """How many more records to fetch before the batch is full (at least one)."""
        return max(1, max_records - self.records)


class _OfUser(Protocol):
    @property
    def user_id(self) -> str: ...


_R = TypeVar("_R", bound=_OfUser)


def _drop_user(rows: list[_R], user_id: str) -> int:
    """Remove ``user_id``'s rows from ``rows`` in place; how many there were."""
    kept = [r for r in rows if r.user_id != user_id]
    n = len(rows) - len(kept)
    if n:
        rows[:] = kept
    return n


@dataclass
class SinkStats:
    """Running totals, logged now and then."""

    records_in: int = 0
    bad: int = 0
    batches: int = 0
    erasures: int = 0
    commits_failed: int = 0
    written: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)

    def add(self, batch: Batch, result: WriteResult) -> None:
        self.records_in += batch.records
        self.bad += batch.bad
        self.batches += 1
        self.erasures += len(batch.erasures)
        self.written.update(result.written)
        self.duplicates.update(result.duplicates)

    def as_dict(self) -> dict[str, object]:
        return {
            "records_in": self.records_in,
            "bad": self.bad,
            "batches": self.batches,
            "erasures": self.erasures,
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
