"""The batch hot path (fetched batches -> write-back -> flush) against one event at a time,
and what a crash at each point of a flush leaves behind."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from faust.types import TP

from ingest_api.contract import TOPIC_MILESTONES, TOPIC_PLAYER_EVENTS, TOPIC_SESSIONS
from jobs.audience import Audience
from jobs.demo_catalog import build_demo_catalog
from streams import records, tables
from streams.agents import CHUNK, EventBatches, Replays, in_turns
from streams.batch import Batcher, Output, outputs_of
from streams.model.catalog import Catalog
from streams.model.rules import Rules
from streams.processor import Processor
from streams.writeback import WriteBack

N = 8  # partitions
BEGIN = datetime(2026, 3, 1, tzinfo=UTC)
RULES = Rules(idle_timeout_s=300)  # short, so that the sweep closes sessions inside the window


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def _log(n: int = 2500, viewers: int = 40) -> dict[int, list[Rec]]:
    """Coherent viewer timelines as the API publishes them, per partition with offsets."""
    audience = Audience(build_demo_catalog(), size=viewers, seed=3, tag="b")
    steps = audience.live(BEGIN, BEGIN + timedelta(hours=2), viewers)
    out: dict[int, list[Rec]] = {p: [] for p in range(N)}
    for s in itertools.islice((s for s in steps if s.event is not None), n):
        key = s.user_id.encode()
        p = tables.partition_of(key, N)
        out[p].append(Rec(TOPIC_PLAYER_EVENTS, p, len(out[p]), key, orjson.dumps(s.event)))
    out[0].append(Rec(TOPIC_PLAYER_EVENTS, 0, len(out[0]), b"x", b"{not json"))  # garbage
    return out


LOG = _log()


class FakeSink:
    """Kafka topics and RocksDB as lists and dicts; remembers the order of its calls."""

    def __init__(self, stored: dict[str, dict[bytes, bytes]] | None = None) -> None:
        self.stored = stored if stored is not None else {"videos": {}, "users": {}, "history": {}}
        self.changelog: dict[str, dict[bytes, bytes]] = {name: {} for name in self.stored}
        self.marks: dict[int, int] = {}  # partition -> offset stored through (in RocksDB)
        self.lose_changelog = False  # the changelog records of the next store never arrive
        self.topics: dict[str, list[bytes]] = {}
        self.acked: dict[Any, int] = {}
        self.calls: list[str] = []
        self.fail: str | None = None  # "send" or "store": that call raises once

    def _maybe_fail(self, call: str) -> None:
        self.calls.append(call)
        if self.fail == call:
            self.fail = None
            raise ConnectionError(f"{call} failed")

    async def send(self, outputs: Sequence[Output]) -> Awaitable[object]:
        fails = self.fail == "send"
        self._maybe_fail("send-start")
        acked: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if fails:  # the broker never acknowledges them
            self.fail = None
            acked.set_exception(ConnectionError("send failed"))
            return acked
        for o in outputs:
            self.topics.setdefault(o.topic, []).append(o.value)
        acked.set_result(None)
        self.calls.append("send")
        return acked

    async def store(
        self, writes: Mapping[str, Mapping[bytes, bytes]], offsets: Mapping[Any, tuple[int, int]]
    ) -> Awaitable[object]:
        for tp, (_, last) in offsets.items():
            self.marks[tp.partition] = last
        self._maybe_fail("store")
        for name, items in writes.items():
            self.stored[name].update(items)
            if not self.lose_changelog:
                self.changelog[name].update(items)
        acked: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked

    def ack(self, offsets: Mapping[Any, tuple[int, int]]) -> None:
        self.calls.append("ack")
        for tp, (first, last) in offsets.items():
            prev = self.acked.get(tp)
            assert prev is None or first <= prev + 1, "an offset was skipped"
            self.acked[tp] = max(last, self.acked.get(tp, -1))


def _batcher(sink: FakeSink, marks: dict[int, int] | None = None) -> tuple[Batcher, Processor]:
    """A worker over ``sink``; ``marks``: what a crashed run left noted in RocksDB."""
    stores = {name: WriteBack(d) for name, d in sink.stored.items()}
    proc = Processor(stores["videos"], stores["users"], stores["history"], Catalog(), RULES, N)
    replays = Replays((marks or {}).get)
    return Batcher(proc, stores, sink, replays.maybe_replayed), proc


def _reference(
    rounds: list[list[tuple[TP, Rec]]],
) -> tuple[dict[str, dict[bytes, bytes]], list[Output]]:
    """One event at a time, each step applied at once (the per-event worker), with the idle
    sweep at the same points."""
    videos: dict[bytes, bytes] = {}
    users: dict[bytes, bytes] = {}
    history: dict[bytes, bytes] = {}
    proc = Processor(videos, users, history, Catalog(), RULES, N)
    outs: list[Output] = []
    for got in rounds:
        for _, rec in got:
            try:
                ev = records.decode_event(rec.key, rec.value)
            except records.BadRecord:
                continue
            step = proc.advance(ev, rec.partition)
            outs += outputs_of(step)
            proc.apply(step)
        for p in range(N):
            if (step_ := proc.sweep(p)) is not None:
                outs += outputs_of(step_)
                proc.apply(step_)
    return {"videos": videos, "users": users, "history": history}, outs


def _interleaved(batch: int, seed: int = 0) -> list[list[tuple[TP, Rec]]]:
    """The log as fetches would return it: rounds of up to ``batch`` records per partition."""
    rnd = random.Random(seed)
    pos = dict.fromkeys(LOG, 0)
    rounds = []
    while any(pos[p] < len(LOG[p]) for p in LOG):
        got = []
        for p in LOG:
            k = rnd.randint(1, batch)
            got += [(TP(TOPIC_PLAYER_EVENTS, p), r) for r in LOG[p][pos[p] : pos[p] + k]]
            pos[p] += k
        rounds.append(got)
    return rounds


async def _feed(b: Batcher, rounds: list[list[tuple[TP, Rec]]], flush_every: int = 1) -> None:
    for i, got in enumerate(rounds):
        for tp, recs in itertools.groupby(got, key=lambda x: x[0]):
            b.process(tp, [r for _, r in recs])
        for p in range(N):
            b.sweep(p)
        if i % flush_every == 0:
            await b.kick()
    await b.drain()


def _ids(values: list[bytes]) -> Counter[str]:
    return Counter(orjson.loads(v)["milestone_id"] for v in values)


def _milestones(outs: list[Output]) -> Counter[str]:
    return _ids([o.value for o in outs if o.topic == TOPIC_MILESTONES])


@pytest.mark.parametrize(("batch", "flush_every"), [(1, 1), (7, 3), (200, 1), (50, 1000)])
async def test_batches_give_the_state_and_records_of_one_event_at_a_time(
    batch: int, flush_every: int
) -> None:
    sink = FakeSink()
    b, _ = _batcher(sink)
    rounds = _interleaved(batch, seed=batch)
    ref_state, ref_outs = _reference(rounds)
    await _feed(b, rounds, flush_every)
    assert sink.stored == ref_state
    ref_milestones = _milestones(ref_outs)
    assert _ids(sink.topics[TOPIC_MILESTONES]) == ref_milestones
    assert set(ref_milestones.values()) == {1} and len(ref_milestones) > 50
    sessions = [o.value for o in ref_outs if o.topic == TOPIC_SESSIONS]
    assert sessions
    assert sorted(sink.topics[TOPIC_SESSIONS]) == sorted(sessions)
    assert {tp.partition: last for tp, last in sink.acked.items()} == {
        p: len(recs) - 1 for p, recs in LOG.items()
    }


async def test_state_is_stored_only_once_its_records_are_acknowledged_then_offsets() -> None:
    sink = FakeSink()
    b, _ = _batcher(sink)
    held: list[asyncio.Future[object]] = []

    async def send_held(outputs: Sequence[Output]) -> Awaitable[object]:
        await FakeSink.send(sink, outputs)
        held.append(asyncio.get_running_loop().create_future())
        return held[-1]

    sink.send = send_held  # type: ignore[method-assign]
    rounds = _interleaved(20)
    for tp, recs in itertools.groupby(rounds[0], key=lambda x: x[0]):
        b.process(tp, [r for _, r in recs])
    flush = asyncio.ensure_future(b.flush())
    for _ in range(5):
        await asyncio.sleep(0)
    assert held and "store" not in sink.calls and not sink.acked
    for fut in held:
        fut.set_result(None)
    await flush
    assert sink.calls[-2:] == ["store", "ack"] and sink.acked


async def test_live_reads_see_processed_events_before_they_are_flushed() -> None:
    sink = FakeSink()
    b, proc = _batcher(sink)
    rounds = _interleaved(30)
    for tp, recs in itertools.groupby(rounds[0], key=lambda x: x[0]):
        b.process(tp, [r for _, r in recs])
    assert not sink.stored["videos"]
    key = next(iter(proc.videos.pending))  # type: ignore[attr-defined]
    assert proc.video(key) is not None


@pytest.mark.parametrize("fail", ["send", "store"])
async def test_a_failed_flush_loses_nothing_and_the_next_one_stores_it(fail: str) -> None:
    sink = FakeSink()
    b, _ = _batcher(sink)
    rounds = _interleaved(40)
    ref_state, ref_outs = _reference(rounds)
    half = len(rounds) // 2
    await _feed(b, rounds[:half])
    sink.fail = fail
    for tp, recs in itertools.groupby(rounds[half], key=lambda x: x[0]):
        b.process(tp, [r for _, r in recs])
    with pytest.raises(ConnectionError):
        await b.flush()
    acked = dict(sink.acked)
    await _feed(b, rounds[half + 1 :])
    assert acked != sink.acked
    assert sink.stored == ref_state
    assert set(_ids(sink.topics[TOPIC_MILESTONES])) == set(_milestones(ref_outs))


@pytest.mark.parametrize(
    "crash", ["before-flush", "records-sent", "changelog-lost", "before-commit"]
)
async def test_a_crash_before_the_commit_loses_nothing_on_replay(crash: str) -> None:
    """Nothing committed: the restarted worker re-reads every event against what the crashed
    one left in RocksDB, on its changelog and on the topics. Its state, the changelog alone
    and the distinct milestone ids all equal the uninterrupted run's."""
    sink = FakeSink()
    b, _ = _batcher(sink)
    rounds = _interleaved(25)
    ref_state, ref_outs = _reference(rounds)
    cut = 2 * len(rounds) // 3
    await _feed(b, rounds[:cut])
    for tp, recs in itertools.groupby(rounds[cut], key=lambda x: x[0]):
        b.process(tp, [r for _, r in recs])
    if crash == "records-sent":
        sink.fail = "store"  # records acknowledged, then the process dies before storing
    elif crash == "changelog-lost":
        sink.lose_changelog = True  # RocksDB written, its changelog records never acknowledged
    if crash != "before-flush":
        with contextlib.suppress(ConnectionError):
            await b.flush()
    # kill -9: memory is gone; RocksDB (stored and marks), the changelog and the topics stay.
    after = FakeSink(sink.stored)
    after.changelog, after.topics = sink.changelog, sink.topics
    b2, _ = _batcher(after, marks=dict(sink.marks))
    await _feed(b2, rounds)
    assert after.stored == ref_state
    assert after.changelog == ref_state
    assert set(_ids(after.topics[TOPIC_MILESTONES])) == set(_milestones(ref_outs))


async def test_events_the_crashed_run_never_stored_are_not_rewritten() -> None:
    sink = FakeSink()
    b, _ = _batcher(sink)
    rounds = _interleaved(25)
    await _feed(b, rounds[:3])
    marks = dict(sink.marks)
    after = FakeSink({name: dict(d) for name, d in sink.stored.items()})
    b2, _ = _batcher(after, marks=marks)
    await _feed(b2, rounds[3:])
    fresh = FakeSink({name: dict(d) for name, d in sink.stored.items()})
    b3, _ = _batcher(fresh)
    await _feed(b3, rounds[3:])
    assert after.changelog == fresh.changelog  # no extra rewrites past the marks


async def test_a_rebalance_during_a_batch_leaves_the_rest_unacknowledged() -> None:
    sink = FakeSink()
    b, _ = _batcher(sink)
    ready = asyncio.Event()
    ready.set()
    tp = TP(TOPIC_PLAYER_EVENTS, 1)
    assert len(LOG[1]) > 3 * CHUNK
    answers = iter([True, False])  # the rebalance begins during the second turn of the loop
    await EventBatches(b, ready).handle([(tp, LOG[1])], lambda: next(answers, False))
    await b.drain()
    assert sink.acked == {tp: 2 * CHUNK - 1}


def test_a_fetch_is_folded_in_turns_each_partition_in_offset_order() -> None:
    fetch = [(TP(TOPIC_PLAYER_EVENTS, p), LOG[p][:n]) for p, n in ((0, 250), (1, 40), (2, 120))]
    turns = in_turns(fetch, 100)
    assert [(tp.partition, len(c)) for tp, c in turns] == [
        (0, 100), (1, 40), (2, 100), (0, 100), (2, 20), (0, 50),
    ]  # fmt: skip
    for tp, recs in fetch:
        mine = [r for t, chunk in turns if t == tp for r in chunk]
        assert mine == list(recs)  # every record once, in offset order
    assert in_turns([], 100) == []


async def test_fetches_folded_in_turns_give_the_state_of_one_event_at_a_time() -> None:
    sink = FakeSink()
    b, _ = _batcher(sink)
    ready = asyncio.Event()
    ready.set()
    handler = EventBatches(b, ready)
    rounds = _interleaved(300, seed=5)
    ref_state, ref_outs = _reference(rounds)
    for got in rounds:
        fetch = [(tp, [r for _, r in recs]) for tp, recs in itertools.groupby(got, lambda x: x[0])]
        await handler.handle(fetch, lambda: True)
        for p in range(N):
            b.sweep(p)
    await b.drain()
    assert sink.stored == ref_state
    assert set(_ids(sink.topics[TOPIC_MILESTONES])) == set(_milestones(ref_outs))


async def test_folding_does_not_wait_for_kafka_until_the_backlog_is_full() -> None:
    """What live reads show never waits for the flush (records not acknowledged yet) while
    fewer than ``max_backlog`` events are pending; past it, the fetch waits."""
    sink = FakeSink()
    b, proc = _batcher(sink)
    held: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    async def never_acked(outputs: Sequence[Output]) -> Awaitable[object]:
        return held

    sink.send = never_acked  # type: ignore[method-assign]
    rounds = _interleaved(50)
    total = 0
    for got in rounds[:4]:
        for tp, recs in itertools.groupby(got, key=lambda x: x[0]):
            b.process(tp, [r for _, r in recs])
        total = b.backlog
        await asyncio.wait_for(b.kick(), 1)  # returns at once: nothing durable awaited
    assert 0 < total < b.max_backlog and not sink.stored["videos"]
    assert all(proc.video(k) is not None for k in proc.videos.pending)  # type: ignore[attr-defined]
    b.max_backlog = 1
    for tp, recs in itertools.groupby(rounds[4], key=lambda x: x[0]):
        b.process(tp, [r for _, r in recs])
    kicked = asyncio.ensure_future(b.kick())
    await asyncio.sleep(0.01)
    assert not kicked.done()  # over the backlog: waits for the flush
    held.set_result(None)
    await asyncio.wait_for(kicked, 1)
    await b.drain()


def _spaced(gap_s: float) -> tuple[Batcher, Processor, list[float], list[int]]:
    """A batcher flushing at least ``gap_s`` apart; when each flush stored its values, and how
    many video states it wrote."""
    sink = FakeSink()
    began: list[float] = []
    writes: list[int] = []
    store = sink.store

    async def counting(
        w: Mapping[str, Mapping[bytes, bytes]], offsets: Mapping[Any, tuple[int, int]]
    ) -> Awaitable[object]:
        began.append(asyncio.get_running_loop().time())
        writes.append(len(w.get("videos", {})))
        return await store(w, offsets)

    sink.store = counting  # type: ignore[method-assign]
    b, proc = _batcher(sink)
    b.min_flush_gap_s = gap_s
    return b, proc, began, writes


def _longest() -> tuple[TP, list[Rec]]:
    p, recs = max(LOG.items(), key=lambda pr: len(pr[1]))
    return TP(TOPIC_PLAYER_EVENTS, p), recs


async def test_flushes_are_spaced_and_a_key_changed_in_between_is_stored_once() -> None:
    """While events keep coming, flushes begin at least the interval apart; what they fold
    meanwhile is visible at once, and a (user, video) changed several times is written once."""
    b, proc, began, writes = _spaced(0.1)
    tp, recs = _longest()
    recs = recs[:60]
    for rec in recs:  # a fetch every 5 ms, as the consumer hands them over
        b.process(tp, [rec])
        await b.kick()
        if b'"video_id"' in (rec.value or b""):  # a playback event: visible at once
            assert proc.video(tables.video_key(*_user_video(rec))) is not None
        await asyncio.sleep(0.005)
    await b.drain()
    assert 2 <= len(began) <= 5  # not one flush per fetch
    # the last one follows the input going quiet, not the interval
    assert all(b - a >= 0.09 for a, b in itertools.pairwise(began[:-1]))
    playback = sum(b'"video_id"' in (r.value or b"") for r in recs)
    assert sum(writes) < playback


async def test_a_flush_does_not_wait_out_the_interval_once_the_input_is_quiet() -> None:
    """Caught up (or in a lull), what was folded becomes durable at once, not an interval
    later."""
    b, _, began, _ = _spaced(5.0)
    tp, recs = _longest()
    loop = asyncio.get_running_loop()
    b.process(tp, recs[:1])
    await b.kick()
    await asyncio.sleep(0.01)
    assert len(began) == 1
    b.process(tp, recs[1:2])
    t0 = loop.time()
    await b.kick()
    await asyncio.wait_for(b.drain(), 1)
    assert len(began) == 2 and began[1] - t0 < 0.5


def _user_video(rec: Rec) -> tuple[str, str]:
    doc = orjson.loads(rec.value or b"{}")
    return doc["user_id"], doc.get("video_id", "")


async def test_what_a_flush_stored_is_handed_on_only_once_it_is_done() -> None:
    sink = FakeSink()
    b, _ = _batcher(sink)
    flushed: list[dict[Any, int]] = []
    b.after_flush = lambda: flushed.append(dict(sink.acked))
    tp, recs = TP(TOPIC_PLAYER_EVENTS, 0), LOG[0][:50]
    b.process(tp, recs)
    sink.fail = "store"
    with pytest.raises(ConnectionError):
        await b.flush()
    assert flushed == []
    await b.flush()
    assert flushed == [{tp: recs[-1].offset}]
