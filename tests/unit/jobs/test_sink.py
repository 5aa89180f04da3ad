"""The sink's batching and offset bookkeeping (pure), and its loop over a fake consumer and a
real warehouse: what it commits to Kafka is exactly what is already in tier 1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from ingest_api.contract import (
    TOPIC_CATALOG,
    TOPIC_MILESTONES,
    TOPIC_PLAYER_EVENTS,
    TOPIC_SESSIONS,
    EraseRequest,
    control_bytes,
)
from jobs.settings import SinkSettings
from jobs.sink import Sink
from jobs.sink_batch import Batch, Erasure, lag
from streams.records import BadRecord
from tests.support.events import catalog_video, event
from warehouse import views
from warehouse.erase import EraseReport, erase_user
from warehouse.store import Store
from warehouse.tier1 import WriteResult, write_batch

SESSION = {
    "session_key": "u1|s1", "user_id": "u1", "session_id": "s1", "video_id": "v1",
    "device_id": "d1", "started_at": "2026-11-21T11:00:00Z", "ended_at": "2026-11-21T11:10:00Z",
    "end_reason": "stop", "watch_time_s": 600.0, "played_s": 600.0, "position_start_s": 0.0,
    "position_end_s": 600.0, "coverage_start": 0.0, "coverage_end": 1.0, "duration_s": 600.0,
}  # fmt: skip
MILESTONE = {
    "milestone_id": "u1|v1|0|started", "milestone": "started", "user_id": "u1",
    "video_id": "v1", "cycle": 0, "ts": "2026-11-21T11:00:00Z", "device_id": "d1",
    "coverage": 0.0, "position_s": 0.0, "watch_time_s": 0.0, "source_event_id": "e1",
}  # fmt: skip


def ev_record(**fields: Any) -> tuple[bytes, bytes]:
    e = event(**fields)
    return e["user_id"].encode(), orjson.dumps(e)


def test_a_batch_commits_the_offset_after_the_last_record_it_read_of_each_partition() -> None:
    b = Batch()
    for offset in (7, 8, 9):
        b.add(TOPIC_PLAYER_EVENTS, 0, offset, *ev_record(), now=0.0)
    b.add(TOPIC_PLAYER_EVENTS, 3, 41, *ev_record(), now=0.0)
    b.add(TOPIC_SESSIONS, 0, 2, b"u1", orjson.dumps(SESSION), now=0.0)
    assert b.offsets == {(TOPIC_PLAYER_EVENTS, 0): 10, (TOPIC_PLAYER_EVENTS, 3): 42,
                         (TOPIC_SESSIONS, 0): 3}  # fmt: skip


def test_each_topic_is_decoded_into_the_records_the_warehouse_takes() -> None:
    b = Batch()
    b.add(TOPIC_PLAYER_EVENTS, 0, 0, *ev_record(type_="start"), now=0.0)
    b.add(TOPIC_MILESTONES, 0, 0, b"u1", orjson.dumps(MILESTONE), now=0.0)
    b.add(TOPIC_SESSIONS, 0, 0, b"u1", orjson.dumps(SESSION), now=0.0)
    b.add(TOPIC_CATALOG, 0, 0, b"v9", orjson.dumps(catalog_video("v9")), now=0.0)
    assert [e.type.value for e in b.events] == ["start"]
    assert [m.milestone_id for m in b.milestones] == ["u1|v1|0|started"]
    assert [s.session_key for s in b.sessions] == ["u1|s1"]
    assert [c.video_id for c in b.catalog] == ["v9"]
    assert (b.records, b.bad) == (4, 0)


@pytest.mark.parametrize(
    ("topic", "key", "value"),
    [
        (TOPIC_PLAYER_EVENTS, b"u1", b"{not json"),
        (TOPIC_PLAYER_EVENTS, b"someone-else", orjson.dumps(event(user_id="u1"))),
        (TOPIC_PLAYER_EVENTS, b"u1", orjson.dumps(event(type_="teleport"))),
        (TOPIC_SESSIONS, b"u1", orjson.dumps({**SESSION, "end_reason": "vanished"})),
        (TOPIC_MILESTONES, b"u1", orjson.dumps({"milestone_id": "x"})),
        (TOPIC_CATALOG, b"v1", orjson.dumps({"video_id": "v1", "duration_s": -5})),
        (TOPIC_CATALOG, b"v1", None),
    ],
    ids=str.split("bad-json wrong-key unknown-type bad-session bad-milestone bad-catalog tomb"),
)
def test_a_record_that_does_not_decode_is_counted_and_skipped_but_never_read_again(
    topic: str, key: bytes, value: bytes | None
) -> None:
    b = Batch()
    error = b.add(topic, 2, 5, key, value, now=0.0)
    assert isinstance(error, BadRecord) and error.error
    assert (b.records, b.bad) == (1, 1)
    assert not (b.events or b.milestones or b.sessions or b.catalog)
    assert b.offsets == {(topic, 2): 6}


def erase_record(user_id: str, erasure_id: str = "erasure-0001") -> tuple[bytes, bytes]:
    req = EraseRequest(
        control="erase_user",
        erasure_id=erasure_id,
        user_id=user_id,
        requested_at=datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
    )
    return user_id.encode(), control_bytes(req)


def test_an_erase_request_drops_the_users_rows_from_the_batch_and_keeps_everyone_elses() -> None:
    b = Batch()
    b.add(TOPIC_PLAYER_EVENTS, 0, 0, *ev_record(user_id="u1", event_id="evt-u1-a"), now=0.0)
    b.add(TOPIC_PLAYER_EVENTS, 1, 0, *ev_record(user_id="u2", event_id="evt-u2-a"), now=0.0)
    b.add(TOPIC_MILESTONES, 0, 0, b"u1", orjson.dumps(MILESTONE), now=0.0)
    b.add(TOPIC_SESSIONS, 0, 0, b"u1", orjson.dumps(SESSION), now=0.0)
    bobs = {**SESSION, "session_key": "u2|s1", "user_id": "u2"}
    b.add(TOPIC_SESSIONS, 1, 0, b"u2", orjson.dumps(bobs), now=0.0)
    got = b.add(TOPIC_PLAYER_EVENTS, 0, 1, *erase_record("u1"), now=0.0)

    assert isinstance(got, Erasure) and b.erasures == [got]
    assert (got.request.user_id, got.request.erasure_id) == ("u1", "erasure-0001")
    assert (got.topic, got.partition, got.offset) == (TOPIC_PLAYER_EVENTS, 0, 1)
    assert got.dropped == {"events": 1, "milestones": 1, "sessions": 1}
    assert [e.event_id for e in b.events] == ["evt-u2-a"]
    assert [s.user_id for s in b.sessions] == ["u2"] and b.milestones == []
    # The request itself is consumed: its offset is committed with the batch.
    assert b.offsets[(TOPIC_PLAYER_EVENTS, 0)] == 2 and (b.records, b.bad) == (6, 0)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"u1", b'{"control": "erase_user", "user_id": "u1"}'),
        (
            b"u1",
            b'{"control": "forget_everything", "erasure_id": "erasure-0001", '
            b'"user_id": "u1", "requested_at": "2026-11-21T12:00:00Z"}',
        ),
        (
            b"u1",
            b'{"control": "erase_user", "erasure_id": "erasure-0001", '
            b'"user_id": "u1", "requested_at": "2026-11-21T12:00:00"}',
        ),
        (b"someone-else", erase_record("u1")[1]),
    ],
    ids=["missing-fields", "unknown-control", "naive-time", "wrong-key"],
)
def test_a_malformed_erase_request_is_skipped_like_any_bad_record_and_erases_nothing(
    key: bytes, value: bytes
) -> None:
    b = Batch()
    b.add(TOPIC_PLAYER_EVENTS, 0, 0, *ev_record(user_id="u1"), now=0.0)
    error = b.add(TOPIC_PLAYER_EVENTS, 0, 1, key, value, now=0.0)
    assert isinstance(error, BadRecord) and error.error
    assert (b.records, b.bad, len(b.events), b.erasures) == (2, 1, 1, [])


def test_a_batch_is_written_when_full_or_when_its_oldest_record_is_old_enough() -> None:
    b = Batch()
    assert not b.due(now=1e9, max_records=3, max_seconds=1.0)  # empty: nothing to write
    b.add(TOPIC_PLAYER_EVENTS, 0, 0, *ev_record(), now=100.0)
    assert not b.due(now=100.9, max_records=3, max_seconds=1.0)
    assert b.due(now=101.0, max_records=3, max_seconds=1.0)
    b.add(TOPIC_PLAYER_EVENTS, 0, 1, *ev_record(), now=100.1)
    b.add(TOPIC_PLAYER_EVENTS, 0, 2, *ev_record(), now=100.2)
    assert b.due(now=100.2, max_records=3, max_seconds=1.0)
    assert b.room(max_records=5) == 2 and b.room(max_records=3) == 1


def test_lag_is_how_far_behind_the_end_of_each_partition_the_sink_reads() -> None:
    assert lag({("t", 0): 100, ("t", 1): 50, ("t", 2): None}, {("t", 0): 90, ("t", 1): 50}) == 10
    assert lag({("t", 0): None}, {}) is None


# -- the loop, over a fake consumer -------------------------------------------------------------


@dataclass
class Rec:
    offset: int
    key: bytes | None
    value: bytes | None


class Crash(BaseException):
    """The process dies here (kill -9): nothing after this point runs."""


@dataclass
class FakeConsumer:
    """A Kafka log per partition and the group's committed offsets, like the broker keeps."""

    log: dict[TopicPartition, list[Rec]]
    committed: dict[TopicPartition, int]
    on_drained: Callable[[], None]
    crash_on_commit: bool = False
    fail_commit: bool = False
    position: dict[TopicPartition, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {tp: self.committed.get(tp, 0) for tp in self.log}

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]:
        out: dict[TopicPartition, list[Any]] = {}
        room = max_records or 10**9
        for tp, recs in self.log.items():
            take = recs[self.position[tp] : self.position[tp] + room]
            if take:
                out[tp] = take
                self.position[tp] += len(take)
                room -= len(take)
        if not out:
            self.on_drained()
            await asyncio.sleep(0)
        return out

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.crash_on_commit:
            raise Crash
        if self.fail_commit:
            raise CommitFailedError("rebalanced")
        self.committed.update(offsets)


def event_log(n: int, partitions: int = 3) -> dict[TopicPartition, list[Rec]]:
    log: dict[TopicPartition, list[Rec]] = {
        TopicPartition(TOPIC_PLAYER_EVENTS, p): [] for p in range(partitions)
    }
    for i in range(n):
        recs = log[TopicPartition(TOPIC_PLAYER_EVENTS, i % partitions)]
        key, value = ev_record(event_id=f"evt-{i:05d}", user_id=f"u{i % partitions}")
        recs.append(Rec(len(recs), key, value))
    return log


def stored_event_ids(data_dir: Path) -> list[str]:
    con = views.connect(data_dir)
    try:
        return [r[0] for r in con.execute("SELECT event_id FROM events").fetchall()]
    finally:
        con.close()


def run_sink(consumer: FakeConsumer, store: Store, batch_records: int) -> Sink:
    settings = SinkSettings(sink_batch_records=batch_records, sink_batch_seconds=60.0)
    sink = Sink(consumer, store, settings)  # type: ignore[arg-type]
    consumer.on_drained = sink.stop
    asyncio.run(sink.run())
    return sink


def test_a_crash_between_the_warehouse_write_and_the_offset_commit_duplicates_nothing(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path)
    log, committed = event_log(250), {}
    with pytest.raises(Crash):
        run_sink(FakeConsumer(log, committed, lambda: None, crash_on_commit=True), store, 100)
    assert len(stored_event_ids(tmp_path)) == 100  # written, offsets never committed
    assert committed == {}

    sink = run_sink(FakeConsumer(log, committed, lambda: None), store, 100)
    ids = stored_event_ids(tmp_path)
    assert sorted(ids) == [f"evt-{i:05d}" for i in range(250)]  # each exactly once
    assert sink.stats.duplicates == {"events": 100}
    assert sum(committed.values()) == 250  # and the next run starts after the last one


def test_a_failed_offset_commit_is_harmless_the_records_are_read_again_and_deduplicated(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path)
    log, committed = event_log(40), {}
    first = run_sink(FakeConsumer(log, committed, lambda: None, fail_commit=True), store, 25)
    assert first.stats.commits_failed == 2 and committed == {}
    run_sink(FakeConsumer(log, committed, lambda: None), store, 25)
    assert sorted(stored_event_ids(tmp_path)) == [f"evt-{i:05d}" for i in range(40)]


def test_a_failed_warehouse_write_is_retried_and_nothing_is_committed_before_it_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobs.sink.asyncio.sleep", _no_sleep)
    store = Store.open(tmp_path)
    log, committed = event_log(30), {}
    failures = [duckdb.IOException("disk full"), OSError("no space left on device")]
    seen_committed: list[dict[TopicPartition, int]] = []

    def flaky_write(store: Store, **batch: Any) -> WriteResult:
        seen_committed.append(dict(committed))
        if failures:
            raise failures.pop(0)
        return write_batch(store, **batch)

    settings = SinkSettings(sink_batch_records=30, sink_batch_seconds=60.0)
    consumer = FakeConsumer(log, committed, lambda: None)
    sink = Sink(consumer, store, settings, write=flaky_write)  # type: ignore[arg-type]
    consumer.on_drained = sink.stop
    asyncio.run(sink.run())
    assert len(seen_committed) == 3 and all(c == {} for c in seen_committed)
    assert sorted(stored_event_ids(tmp_path)) == [f"evt-{i:05d}" for i in range(30)]
    assert sum(committed.values()) == 30


async def _no_sleep(seconds: float) -> None:
    return None


# -- erase requests in the loop -----------------------------------------------------------------

U1, U2 = TopicPartition(TOPIC_PLAYER_EVENTS, 0), TopicPartition(TOPIC_PLAYER_EVENTS, 1)


# What tier 1 holds once the sink went past the erase request of ``erase_log``.
AFTER_ERASE = sorted(["u1-after-0", "u1-after-1"] + [f"evt-u2-{i}" for i in range(8)])


def erase_log() -> dict[TopicPartition, list[Rec]]:
    """u1 on partition 0: 6 events, an erase request, then 2 events (u1 came back); u2 on
    partition 1: 8 events."""
    p0 = [ev_record(user_id="u1", event_id=f"u1-before-{i}") for i in range(6)]
    p0.append(erase_record("u1"))
    p0 += [ev_record(user_id="u1", event_id=f"u1-after-{i}") for i in range(2)]
    p1 = [ev_record(user_id="u2", event_id=f"evt-u2-{i}") for i in range(8)]
    return {
        U1: [Rec(i, k, v) for i, (k, v) in enumerate(p0)],
        U2: [Rec(i, k, v) for i, (k, v) in enumerate(p1)],
    }


def test_an_erase_request_removes_the_users_earlier_rows_stored_and_in_flight_but_not_later_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Batches of 4: u1-before-0..3 are stored before the request arrives, 4..5 are still in the
    # batch in hand when it does; u1-after-* come after it, and u2 is someone else.
    store = Store.open(tmp_path)
    committed: dict[TopicPartition, int] = {}
    caplog.set_level(logging.INFO, logger="watchflow.sink")
    sink = run_sink(FakeConsumer(erase_log(), committed, lambda: None), store, 4)

    assert sorted(stored_event_ids(tmp_path)) == AFTER_ERASE
    assert committed == {U1: 9, U2: 8} and sink.stats.erasures == 1
    [line] = [r for r in caplog.records if r.getMessage() == "user erased from the warehouse"]
    assert line.levelno == logging.INFO
    assert (line.user_id, line.erasure_id) == ("u1", "erasure-0001")  # type: ignore[attr-defined]
    assert line.batch_rows_dropped == {"events": 2}  # type: ignore[attr-defined]
    assert line.tier1_rows == {"events": 4}  # type: ignore[attr-defined]


def test_offsets_past_an_erase_request_are_committed_only_once_the_erase_is_done(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path)
    committed: dict[TopicPartition, int] = {}
    seen_committed: list[dict[TopicPartition, int]] = []

    def erase_then_look(store: Store, user_id: str) -> EraseReport:
        report = erase_user(store, user_id)
        seen_committed.append(dict(committed))
        return report

    settings = SinkSettings(sink_batch_records=4, sink_batch_seconds=60.0)
    consumer = FakeConsumer(erase_log(), committed, lambda: None)
    sink = Sink(consumer, store, settings, erase=erase_then_look)
    consumer.on_drained = sink.stop
    asyncio.run(sink.run())
    assert seen_committed == [{U1: 4}]  # the first batch only: not the request (offset 6)
    assert committed[U1] == 9


def test_a_crash_after_an_erase_but_before_the_offset_commit_erases_again_on_restart(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path)
    committed: dict[TopicPartition, int] = {}
    log = erase_log()
    erased: list[str] = []

    def erase(store: Store, user_id: str) -> EraseReport:
        erased.append(user_id)
        return erase_user(store, user_id)

    settings = SinkSettings(sink_batch_records=100, sink_batch_seconds=60.0)
    dying = FakeConsumer(log, committed, lambda: None, crash_on_commit=True)
    with pytest.raises(Crash):
        asyncio.run(Sink(dying, store, settings, erase=erase).run())
    assert committed == {} and erased == ["u1"]

    # The restart reads the request again: the erase is redone (harmless) and u1's rows from
    # before it that the crashed run never committed past do not come back.
    restarted = FakeConsumer(log, committed, lambda: None)
    sink = Sink(restarted, store, settings, erase=erase)
    restarted.on_drained = sink.stop
    asyncio.run(sink.run())
    assert erased == ["u1", "u1"]
    assert sorted(stored_event_ids(tmp_path)) == AFTER_ERASE
    assert committed == {U1: 9, U2: 8}
