"""Erasing a user through the Kafka log, on a real broker: the sink acting on an erase request in
log order, and ``watchflow erase-user`` putting its request where the user's events are.

As in ``test_sink_on_kafka``: the topics are shared with the session's other tests, so every
user, video and consumer group is fresh and every assertion filters by them.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest_api.contract import (
    TOPIC_MILESTONES,
    TOPIC_PLAYER_EVENTS,
    TOPIC_SESSIONS,
    EraseRequest,
    control_bytes,
    control_of,
)
from streams.topics import prepare_topics
from tests.integration.jobs.jobs import ROOT, SinkProcess, job_env, keyed, query
from tests.integration.streams.workers import fresh, past, session_events
from tests.support.events import milestone, session_record
from tests.support.kafka import consume_until, produce
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sink(kafka_bootstrap: str, tmp_path: Path) -> Iterator[SinkProcess]:
    asyncio.run(prepare_topics(kafka_bootstrap, 8, check=False))
    env = {"WATCHFLOW_SINK_BATCH_RECORDS": "500", "WATCHFLOW_SINK_BATCH_SECONDS": "0.5"}
    started = SinkProcess(kafka_bootstrap, tmp_path / "wf", fresh("sink-erase"), env=env).start()
    yield started
    if started.alive():
        started.kill9()


def stored(data_dir: Path, table: str, id_column: str, user: str) -> set[str]:
    rows = query(data_dir, f"SELECT {id_column} FROM {table} WHERE user_id = ?", [user])
    return {r[0] for r in rows}


def ids(events: list[dict[str, Any]]) -> set[str]:
    return {e["event_id"] for e in events}


def erase_request(user: str) -> tuple[bytes, bytes]:
    req = EraseRequest(
        control="erase_user",
        erasure_id=fresh("erasure"),
        user_id=user,
        requested_at=datetime.now(UTC),
    )
    return user.encode(), control_bytes(req)


def test_the_sink_erases_a_user_at_their_erase_request_keeps_what_came_after_and_goes_on(
    kafka_bootstrap: str, sink: SinkProcess
) -> None:
    alice, bob, video = fresh("user"), fresh("user"), fresh("vid")
    t0 = past(3)
    alice_before = session_events(alice, video, t0=t0, duration_s=100.0)
    bob_first = session_events(bob, video, t0=t0, duration_s=100.0)
    sessions = [session_record(evs) for evs in (alice_before, bob_first)]
    milestones = [milestone(evs) for evs in (alice_before, bob_first)]

    async def watched() -> None:
        await asyncio.gather(
            produce(
                kafka_bootstrap, TOPIC_PLAYER_EVENTS, keyed(alice_before + bob_first, "user_id")
            ),
            produce(kafka_bootstrap, TOPIC_SESSIONS, keyed(sessions, "user_id")),
            produce(kafka_bootstrap, TOPIC_MILESTONES, keyed(milestones, "user_id")),
        )

    asyncio.run(watched())
    data_dir = sink.data_dir
    wait_for(
        lambda: (
            stored(data_dir, "events", "event_id", alice) == ids(alice_before)
            and len(stored(data_dir, "sessions", "session_key", alice)) == 1
            and len(stored(data_dir, "milestones", "milestone_id", alice)) == 1
        ),
        "alice's viewing to land in tier 1",
    )

    # The erase request, then alice comes back: one produce call, so they keep this order.
    alice_after = session_events(alice, video, t0=t0 + timedelta(hours=1), duration_s=50.0)
    asyncio.run(
        produce(
            kafka_bootstrap,
            TOPIC_PLAYER_EVENTS,
            [erase_request(alice), *keyed(alice_after, "user_id")],
        )
    )
    wait_for(
        lambda: stored(data_dir, "events", "event_id", alice) == ids(alice_after),
        "the sink to erase alice's events from before the request and keep the later ones",
    )
    assert stored(data_dir, "sessions", "session_key", alice) == set()
    assert stored(data_dir, "milestones", "milestone_id", alice) == set()
    assert stored(data_dir, "events", "event_id", bob) == ids(bob_first)
    assert len(stored(data_dir, "sessions", "session_key", bob)) == 1

    # ...and it keeps going.
    bob_later = session_events(bob, video, t0=t0 + timedelta(hours=1), duration_s=50.0)
    asyncio.run(produce(kafka_bootstrap, TOPIC_PLAYER_EVENTS, keyed(bob_later, "user_id")))
    wait_for(
        lambda: stored(data_dir, "events", "event_id", bob) == ids(bob_first) | ids(bob_later),
        "the sink to land bob's later events",
    )
    assert sink.stop() == 0
    log = [orjson.loads(line) for line in sink.log_path.read_bytes().splitlines()]
    [erased] = [
        r for r in log if r["msg"] == "user erased from the warehouse" and r["user_id"] == alice
    ]
    assert erased["level"] == "info" and erased["erasure_id"].startswith("erasure-")
    assert erased["tier1_rows"] == {
        "events": len(alice_before),
        "sessions": 1,
        "milestones": 1,
    }


def test_erase_user_puts_its_request_on_the_users_partition_after_their_events(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    asyncio.run(prepare_topics(kafka_bootstrap, 8, check=False))
    user = fresh("user")
    events = session_events(user, fresh("vid"), t0=past(2), duration_s=50.0)
    asyncio.run(produce(kafka_bootstrap, TOPIC_PLAYER_EVENTS, keyed(events, "user_id")))

    done = subprocess.run(
        [sys.executable, "-m", "watchflow.cli", "erase-user", user],
        env=job_env(kafka_bootstrap, tmp_path / "wf"),
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    report = orjson.loads(done.stdout)
    where = report["erasure_record"]
    assert where["topic"] == TOPIC_PLAYER_EVENTS
    assert f"partition {where['partition']} offset {where['offset']}" in report["live_state"]

    mine = asyncio.run(
        consume_until(
            kafka_bootstrap,
            TOPIC_PLAYER_EVENTS,
            lambda recs: len(recs) > len(events),
            keep=lambda r: r.key == user.encode(),
        )
    )
    assert len(mine) == len(events) + 1
    assert {r.partition for r in mine} == {where["partition"]}  # where the API puts the user
    last = max(mine, key=lambda r: r.offset)
    assert last.offset == where["offset"]
    assert last.value is not None
    req = control_of(last.value)
    assert req is not None
    assert (req.user_id, req.erasure_id) == (user, report["erasure_id"])
