"""Coherent player events for the worker benchmark, the topics, pre-fill and group progress.

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
    PLAYBACK_TYPES,
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

    def split(self, n: int) -> tuple[Events, Events]:
        """The first ``n`` events, and the rest."""
        head = Events(self.keys[:n], self.values[:n], self.probes[:n])
        return head, Events(self.keys[n:], self.values[n:], self.probes[n:])


def generate(n: int, viewers: int, tag: str, seed: int = 1) -> Events:
    """The first ``n`` wire events of ``viewers`` viewers watching from ``BEGIN``."""
    audience = Audience(build_demo_catalog(), size=viewers, seed=seed, tag=tag)
    steps = (s for s in audience.live(BEGIN, BEGIN + WINDOW, viewers) if s.event is not None)
    keys, values, probes = [], [], []
    for s in itertools.islice(steps, n):
        ev: dict[str, Any] = s.event  # type: ignore[assignment]
        keys.append(s.user_id.encode())
        values.append(orjson.dumps(ev))
        # Playback only: a bookmark has a video and a position too, but it does not move
        # last_watched_at, which is what the probes watch for.
        playback = ev["type"] in PLAYBACK_TYPES
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
