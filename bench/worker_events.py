"""Coherent player events for the worker benchmark, the topics, and the paced latency probe.

The events are the simulated audience's (``jobs.audience.Audience`` over the demo catalog):
per-viewer timelines where every session starts, plays, sends heartbeats with advancing
positions and increasing ``seq``, pauses, seeks, completes; with user actions in between. The
bytes are what the ingest API publishes (``orjson.dumps`` of the event, keyed by user_id).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from ingest_api.contract import (
    TOPIC_DEAD_LETTER,
    TOPIC_MILESTONES,
    TOPIC_PLAYER_EVENTS,
    TOPIC_SESSIONS,
)
from jobs.audience import Audience
from jobs.demo_catalog import build_demo_catalog

BEGIN = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class Events:
    keys: list[bytes]
    values: list[bytes]
    probes: list[tuple[str, str, int] | None]  # (user, video, ts ms) of playback events

    @property
    def avg_bytes(self) -> float:
        return sum(map(len, self.values)) / max(1, len(self.values))


def generate(n: int, viewers: int, tag: str, seed: int = 1) -> Events:
    """The first ``n`` wire events of ``viewers`` viewers watching from ``BEGIN``."""
    audience = Audience(build_demo_catalog(), size=viewers, seed=seed, tag=tag)
    steps = (s for s in audience.live(BEGIN, BEGIN + WINDOW, viewers) if s.event is not None)
    keys, values, probes = [], [], []
    for s in itertools.islice(steps, n):
        ev: dict[str, Any] = s.event  # type: ignore[assignment]
        keys.append(s.user_id.encode())
        values.append(orjson.dumps(ev))
        playback = "position_s" in ev and "video_id" in ev
        probes.append((s.user_id, ev["video_id"], s.at_ms) if playback else None)
    if len(values) < n:
        raise ValueError(f"{viewers} viewers made only {len(values)} events; ask for more")
    return Events(keys, values, probes)


async def create_topics(bootstrap: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = (TOPIC_PLAYER_EVENTS, TOPIC_MILESTONES, TOPIC_SESSIONS, TOPIC_DEAD_LETTER)
        await admin.create_topics([NewTopic(t, partitions, 1) for t in names])
    finally:
        await admin.close()


def api_producer(bootstrap: str) -> AIOKafkaProducer:
    """Set up as ``ingest_api.publisher`` sets up its own (acks=all: the API's acknowledgement)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )


async def prefill(bootstrap: str, ev: Events) -> float:
    """Send every event (bare producer, acks=all); seconds taken."""
    p = api_producer(bootstrap)
    await p.start()
    t0 = time.perf_counter()
    try:
        for i in range(0, len(ev.values), 20_000):
            futs = [
                await p.send(TOPIC_PLAYER_EVENTS, v, key=k)
                for k, v in zip(ev.keys[i : i + 20_000], ev.values[i : i + 20_000], strict=True)
            ]
            await asyncio.gather(*futs)
    finally:
        await p.stop()
    return time.perf_counter() - t0


class GroupProgress:
    """Offsets a consumer group has committed on a topic, summed over partitions (0 before the
    group exists). One admin client for every poll."""

    def __init__(self, bootstrap: str, topic: str = TOPIC_PLAYER_EVENTS) -> None:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.topic = topic

    async def __aenter__(self) -> GroupProgress:
        await self.admin.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.admin.close()

    async def committed(self, group: str) -> int:
        try:
            offsets = await self.admin.list_consumer_group_offsets(group)
        except KafkaError:
            return 0  # no coordinator yet: nothing committed
        return sum(max(0, o.offset) for tp, o in offsets.items() if tp.topic == self.topic)


async def record_count(bootstrap: str, topic: str, partitions: int) -> int:
    """Records ever written to ``topic`` (the sum of its end offsets)."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return sum((await c.end_offsets(tps)).values())
    finally:
        with contextlib.suppress(asyncio.CancelledError):  # aiokafka 0.14 on a quick stop
            await c.stop()


class _Probe:
    __slots__ = ("acked", "seen", "ts_ms")

    def __init__(self, ts_ms: int) -> None:
        self.ts_ms = ts_ms
        self.acked: float | None = None
        self.seen: float | None = None


async def paced_latency(
    bootstrap: str, changelog: str, partitions: int, ev: Events, rate: float, probe_every: int
) -> dict[str, Any]:
    """Send ``ev`` at ``rate`` events/s; every ``probe_every``-th playback event is timed
    from its acknowledgement (acks=all) to the first record on the worker's ``videos``
    changelog whose state (``codec.decode_video``) has its last playback at or after the
    event's ``ts``. The worker writes RocksDB, then sends that record: this is an upper bound
    of when a live read would show the event, and it puts no load on the worker (polling
    its live reads did, enough to make it fall behind). Latencies in ms."""
    from streams.model import codec, video_state
    from streams.tables import video_key

    pending: dict[bytes, list[_Probe]] = {}
    probes: list[_Probe] = []
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    tps = [TopicPartition(changelog, p) for p in range(partitions)]
    c.assign(tps)
    await c.seek_to_end(*tps)
    stop = asyncio.Event()

    async def follow() -> None:
        while not stop.is_set():
            for msgs in (await c.getmany(timeout_ms=100, max_records=2000)).values():
                now = time.perf_counter()
                for m in msgs:
                    waiting = pending.get(m.key or b"")
                    if not waiting or m.value is None:
                        continue
                    last = video_state.last_ms(codec.decode_video(m.value))
                    for pr in waiting:
                        if pr.seen is None and last >= pr.ts_ms:
                            pr.seen = now

    p = api_producer(bootstrap)
    await p.start()
    follower = asyncio.create_task(follow())
    late_sends: list[float] = []
    t0 = time.perf_counter()
    k = 0
    for i, (key, value) in enumerate(zip(ev.keys, ev.values, strict=True)):
        due = t0 + i / rate
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        else:
            late_sends.append((now - due) * 1000)
        fut = await p.send(TOPIC_PLAYER_EVENTS, value, key=key)
        target = ev.probes[i]
        if target is not None:
            k += 1
            if k % probe_every == 0:
                pr = _Probe(target[2])
                probes.append(pr)
                pending.setdefault(video_key(target[0], target[1]), []).append(pr)
                fut.add_done_callback(lambda _f, pr=pr: setattr(pr, "acked", time.perf_counter()))
    sent_s = time.perf_counter() - t0
    await p.flush()
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline and any(pr.seen is None for pr in probes):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    stop.set()
    await follower
    await p.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await c.stop()
    lat = sorted(
        max(0.0, pr.seen - pr.acked) * 1000 if pr.seen is not None and pr.acked else float("inf")
        for pr in probes
    )
    late_sends.sort()

    def q(xs: list[float], f: float) -> float:
        return xs[min(len(xs) - 1, int(f * len(xs)))] if xs else 0.0

    return {
        "rate": rate,
        "achieved_rate": len(ev.values) / sent_s,
        "seconds": sent_s,
        "probes": len(lat),
        "unseen_after_30s": sum(1 for x in lat if x == float("inf")),
        "p50_ms": q(lat, 0.5),
        "p99_ms": q(lat, 0.99),
        "max_ms": lat[-1] if lat else 0.0,
        "send_lag_p99_ms": q(late_sends, 0.99),
    }
