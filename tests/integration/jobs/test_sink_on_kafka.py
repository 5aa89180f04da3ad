"""The sink and the rollup on a real broker, run as ``watchflow`` subprocesses.

Records are produced straight onto the pipeline's topics with fresh ids (the topics are shared
with the other tests of the session, so every assertion filters by this test's users); each
sink has its own consumer group and data dir, and reads the topics from the beginning.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest_api.contract import (
    TOPIC_CATALOG,
    TOPIC_MILESTONES,
    TOPIC_PLAYER_EVENTS,
    TOPIC_SESSIONS,
)
from streams.topics import prepare_topics
from tests.integration.jobs.jobs import (
    SinkProcess,
    committed,
    keyed,
    query,
    rollup_once,
)
from tests.integration.streams.workers import fresh, past, session_events
from tests.support.events import milestone, session_record
from tests.support.kafka import produce
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sinks(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Callable[..., SinkProcess]]:
    asyncio.run(prepare_topics(kafka_bootstrap, 8, check=False))
    started: list[SinkProcess] = []
    group = fresh("sink-test")

    def start(**env: str) -> SinkProcess:
        sink = SinkProcess(kafka_bootstrap, tmp_path / "wf", group, env=env)
        started.append(sink.start())
        return sink

    yield start
    for s in started:
        if s.alive():
            s.kill9()


@dataclass
class Audience:
    """Viewings of one video by fresh users, as the worker would have recorded them."""

    video: str
    users: list[str]
    events: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    milestones: list[dict[str, Any]]

    @classmethod
    def watching(cls, viewers: int, *, duration_s: float, t0: datetime) -> Audience:
        video, users = fresh("vid"), [fresh("user") for _ in range(viewers)]
        per_user = [
            session_events(u, video, t0=t0 + timedelta(seconds=i), duration_s=duration_s)
            for i, u in enumerate(users)
        ]
        return cls(
            video,
            users,
            [e for evs in per_user for e in evs],
            [session_record(evs) for evs in per_user],
            [milestone(evs) for evs in per_user],
        )

    async def publish(self, bootstrap: str) -> None:
        catalog = {"video_id": self.video, "title": "t", "duration_s": 10_000.0}
        await asyncio.gather(
            produce(bootstrap, TOPIC_PLAYER_EVENTS, keyed(self.events, "user_id")),
            produce(bootstrap, TOPIC_SESSIONS, keyed(self.sessions, "user_id")),
            produce(bootstrap, TOPIC_MILESTONES, keyed(self.milestones, "user_id")),
            produce(bootstrap, TOPIC_CATALOG, keyed([catalog], "video_id")),
        )

    def stored(self, data_dir: Path, table: str, id_column: str) -> list[str]:
        rows = query(data_dir, f"SELECT {id_column} FROM {table} WHERE user_id IN ?", [self.users])
        return [r[0] for r in rows]


def test_the_sink_lands_every_record_in_tier_1_once_and_stops_cleanly_on_sigterm(
    kafka_bootstrap: str, sinks: Callable[..., SinkProcess]
) -> None:
    aud = Audience.watching(5, duration_s=300.0, t0=past(3))
    asyncio.run(aud.publish(kafka_bootstrap))
    bad = [(aud.users[0].encode(), b"{not json"), (b"u", orjson.dumps({"type": "teleport"}))]
    asyncio.run(produce(kafka_bootstrap, TOPIC_PLAYER_EVENTS, bad))
    asyncio.run(produce(kafka_bootstrap, TOPIC_SESSIONS, [(b"u", b"[]")]))
    sink = sinks(WATCHFLOW_SINK_BATCH_RECORDS="500", WATCHFLOW_SINK_BATCH_SECONDS="0.5")
    data_dir = sink.data_dir

    want_events = sorted(e["event_id"] for e in aud.events)
    wait_for(lambda: len(aud.stored(data_dir, "events", "event_id")) >= len(want_events),
             "the sink to land the events")  # fmt: skip
    wait_for(lambda: len(aud.stored(data_dir, "sessions", "session_key")) >= 5, "sessions")
    wait_for(lambda: len(aud.stored(data_dir, "milestones", "milestone_id")) >= 5, "milestones")
    time.sleep(1.0)  # anything extra (a duplicate) would have landed by now

    assert sorted(aud.stored(data_dir, "events", "event_id")) == want_events
    assert sorted(aud.stored(data_dir, "sessions", "session_key")) == sorted(
        s["session_key"] for s in aud.sessions
    )
    assert sorted(aud.stored(data_dir, "milestones", "milestone_id")) == sorted(
        m["milestone_id"] for m in aud.milestones
    )
    assert query(data_dir, "SELECT origin FROM catalog WHERE video_id = ?", [aud.video]) == [
        ("catalog",)
    ]
    assert sink.stop() == 0
    log = [orjson.loads(line) for line in sink.log_path.read_bytes().splitlines()]
    assert any(r["msg"] == "sink stopped" for r in log)
    skipped = [r for r in log if r["msg"] == "skipped a record that does not decode"]
    assert len(skipped) >= 3  # ours; other tests of the session may have sent bad ones too

    # The rollup turns what the sink landed into tier 2: one view per session of the video.
    done = rollup_once(kafka_bootstrap, data_dir)
    assert done.returncode == 0, done.stderr.decode()
    [(views, uniques, completions)] = query(
        data_dir,
        "SELECT sum(views), sum(unique_viewers), sum(completions) FROM video_daily"
        " WHERE video_id = ?",
        [aud.video],
    )
    assert (views, uniques, completions) == (5, 5, 5)


def test_a_sink_killed_mid_batch_and_restarted_lands_every_record_exactly_once(
    kafka_bootstrap: str, sinks: Callable[..., SinkProcess]
) -> None:
    # ~20k records: 480 events and 19,600 sessions. The bulk goes to watch-sessions because
    # the worker tests (fresh app id) read player-events from the beginning: a backlog there
    # would eat their latency budget.
    aud = Audience.watching(40, duration_s=100.0, t0=past(5))
    extra = [
        {**session_record(aud.events[:1]), "session_id": f"x{i}",
         "session_key": f"{aud.users[i % 40]}|x{i}", "user_id": aud.users[i % 40]}
        for i in range(19_560)
    ]  # fmt: skip
    aud.sessions += extra
    asyncio.run(aud.publish(kafka_bootstrap))
    want_events = sorted(e["event_id"] for e in aud.events)
    want_sessions = sorted(s["session_key"] for s in aud.sessions)
    env = {"WATCHFLOW_SINK_BATCH_RECORDS": "2000", "WATCHFLOW_SINK_BATCH_SECONDS": "2"}
    first = sinks(**env)
    group, data_dir = first.group, first.data_dir

    def committed_sessions() -> int:
        return asyncio.run(committed(kafka_bootstrap, group, TOPIC_SESSIONS))

    wait_for(lambda: committed_sessions() > 0, "the sink's first offset commit")
    first.kill9()  # in the middle of its next batch: records read, maybe written, not committed
    assert committed_sessions() < len(want_sessions), "the sink finished before the kill"

    second = sinks(**env)
    wait_for(
        lambda: (
            len(aud.stored(data_dir, "sessions", "session_key")) >= len(want_sessions)
            and len(aud.stored(data_dir, "events", "event_id")) >= len(want_events)
        ),
        "the restarted sink to land the rest",
        timeout_s=60,
    )
    assert second.stop() == 0
    events = aud.stored(data_dir, "events", "event_id")
    sessions = aud.stored(data_dir, "sessions", "session_key")
    assert (len(events), len(sessions)) == (len(want_events), len(want_sessions))  # no copies
    assert sorted(events) == want_events and sorted(sessions) == want_sessions  # none lost
