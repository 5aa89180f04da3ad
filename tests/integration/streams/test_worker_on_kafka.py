"""The stream worker on a real broker, run as ``watchflow worker`` subprocesses.

Each test uses a fresh app id (fresh consumer group and changelog topics) and fresh user ids;
the pipeline's topics are shared, so every assertion filters by this test's users.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from ingest_api.contract import (
    TOPIC_DEAD_LETTER,
    TOPIC_MILESTONES,
    TOPIC_PLAYER_EVENTS,
    EraseRequest,
    control_bytes,
)
from ingest_api.main import build_app
from ingest_api.settings import ApiSettings
from tests.integration.streams.workers import (
    WorkerProcess,
    as_records,
    expected,
    fresh,
    past,
    session_events,
)
from tests.support.kafka import consume_until, produce
from tests.support.servers import serve

pytestmark = pytest.mark.integration


@pytest.fixture
def workers(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []
    app_id = fresh("wf-test")

    def start(worker_id: str = "0", **env: str) -> WorkerProcess:
        w = WorkerProcess(kafka_bootstrap, app_id, tmp_path / f"w{worker_id}", worker_id, env=env)
        started.append(w.start())
        return w

    yield start
    for w in started:
        if w.proc is not None and w.proc.poll() is None:
            w.kill9()


async def poll(fetch: Callable[[], Any], ok: Callable[[Any], bool], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = await fetch()
            if ok(last):
                return last
        except httpx.HTTPError as exc:
            last = exc
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met in {timeout_s} s; last: {last!r}")


async def _state(w: WorkerProcess, user: str, video: str) -> dict[str, Any]:
    r = await w.get(f"/state/users/{user}/videos/{video}")
    return dict(r.json()) if r.status_code == 200 else {"status_code": r.status_code}


async def test_events_posted_to_the_api_show_in_its_live_reads_within_seconds(
    workers: Callable[..., WorkerProcess], kafka_bootstrap: str, tmp_path: Path
) -> None:
    w = workers()
    await w.wait_serving()
    user, video = fresh("u"), fresh("v")
    settings = ApiSettings(
        kafka_bootstrap=kafka_bootstrap,
        write_keys="wk",
        read_tokens=f"rt={'user:' + user}",
        data_dir=tmp_path,
        worker_urls=w.url,
    )
    events = session_events(user, video, t0=past(), duration_s=300.0)
    with serve(build_app(settings)) as api:
        async with httpx.AsyncClient(timeout=10) as client:
            headers = {"Authorization": "Bearer rt"}
            await poll(lambda: client.get(api + "/readyz"), lambda r: r.status_code == 200)
            r = await client.post(
                api + "/v1/events",
                content=orjson.dumps({"events": events}),
                headers={"Authorization": "Bearer wk"},
            )
            assert r.json().get("accepted") == len(events), r.text
            acked = time.monotonic()
            url = f"{api}/v1/users/{user}/videos/{video}"
            body = await poll(
                lambda: client.get(url, headers=headers),
                lambda r: r.status_code == 200 and r.json()["status"] == "completed",
                timeout_s=10,
            )
            took = time.monotonic() - acked
            doc = body.json()
            assert doc["completed_count"] == 1
            assert doc["coverage"] == pytest.approx(1.0)
            assert took < 3.0, f"state visible only {took:.2f} s after the acknowledgement"
            hist = await poll(
                lambda: client.get(f"{api}/v1/users/{user}/history", headers=headers),
                lambda r: len(r.json()["sessions"]) == 1,
            )
            assert hist.json()["sessions"][0]["end_reason"] == "stop"
            other = await client.get(f"{api}/v1/users/someone-else/history", headers=headers)
            assert other.status_code == 403
    assert w.stop() == 0  # SIGTERM stops it cleanly


async def _milestones_of(bootstrap: str, users: set[str], want: int) -> list[dict[str, Any]]:
    recs = await consume_until(
        bootstrap,
        TOPIC_MILESTONES,
        lambda got: len({orjson.loads(r.value)["milestone_id"] for r in got}) >= want,
        keep=lambda r: r.key is not None and r.key.decode() in users,
        timeout_s=20,
    )
    return [orjson.loads(r.value) for r in recs]


async def test_kill_9_mid_stream_and_restart_end_in_the_uninterrupted_state_and_milestones(
    workers: Callable[..., WorkerProcess], kafka_bootstrap: str
) -> None:
    users = [fresh("u") for _ in range(12)]
    t0 = past()
    per_user = [session_events(u, "v1", t0=t0, duration_s=400.0) for u in users]
    first = [e for evs in per_user for e in evs[: len(evs) // 2]]
    second = [e for evs in per_user for e in evs[len(evs) // 2 :]]
    want = expected(first + second)
    assert len(want.milestone_ids) == 7 * len(users)  # started, 10..90, completed

    # A long commit interval: at the kill nothing is committed, so the restart re-reads
    # everything the first run already applied to its RocksDB (and maybe emitted).
    w = workers(WATCHFLOW_COMMIT_INTERVAL_S="600")
    await w.wait_serving()
    await produce(kafka_bootstrap, TOPIC_PLAYER_EVENTS, as_records(first))
    await poll(lambda: _state(w, users[-1], "v1"), lambda d: d.get("coverage", 0) > 0.4)
    await produce(kafka_bootstrap, TOPIC_PLAYER_EVENTS, as_records(second))
    await asyncio.sleep(0.05)  # let it get going on the second half
    w.kill9()

    w2 = workers(WATCHFLOW_COMMIT_INTERVAL_S="600")  # same id, same data dir
    await w2.wait_serving()
    for u in users:
        await poll(lambda u=u: _state(w2, u, "v1"), lambda d, u=u: d == want.videos[(u, "v1")])
    ms = await _milestones_of(kafka_bootstrap, set(users), len(want.milestone_ids))
    assert {m["milestone_id"] for m in ms} == want.milestone_ids

    # And from the changelogs alone: a new machine (empty data dir) rebuilds the same state.
    w2.kill9()
    w3 = WorkerProcess(kafka_bootstrap, w.app_id, w.data_dir.parent / "fresh", "0").start()
    try:
        await w3.wait_serving()
        for u in users:
            assert await _state(w3, u, "v1") == want.videos[(u, "v1")]
    finally:
        w3.kill9()


async def test_two_workers_share_the_partitions_and_both_answer_for_every_user(
    workers: Callable[..., WorkerProcess], kafka_bootstrap: str
) -> None:
    a, b = workers("a"), workers("b")
    await a.wait_serving()
    await b.wait_serving()
    users = [fresh("u") for _ in range(16)]
    events = [e for u in users for e in session_events(u, "v9", t0=past(), duration_s=120.0)]
    want = expected(events)
    await produce(kafka_bootstrap, TOPIC_PLAYER_EVENTS, as_records(events))
    owners: set[str] = set()
    for u in users:
        path = f"/state/users/{u}/videos/v9"
        for w in (a, b):
            r = await poll(
                lambda w=w, path=path: w.get(path),
                lambda r, u=u: r.status_code == 200 and r.json() == want.videos[(u, "v9")],
            )
            owners.add(r.headers["x-watchflow-worker"])
        # Same owner whichever worker was asked: one of them forwarded.
        ra, rb = await a.get(path), await b.get(path)
        assert ra.headers["x-watchflow-worker"] == rb.headers["x-watchflow-worker"]
    assert owners == {a.url, b.url}  # the partitions are shared


async def test_a_garbage_record_goes_to_the_dead_letter_topic_and_later_events_still_count(
    workers: Callable[..., WorkerProcess], kafka_bootstrap: str
) -> None:
    w = workers()
    await w.wait_serving()
    user = fresh("u")
    garbage = [(user.encode(), b'{"event_id": "x", oops'), (user.encode(), b'{"type": "warp"}')]
    events = session_events(user, "v2", t0=past(), duration_s=120.0)
    await produce(kafka_bootstrap, TOPIC_PLAYER_EVENTS, garbage + as_records(events))
    want = expected(events).videos[(user, "v2")]
    await poll(lambda: _state(w, user, "v2"), lambda d: d == want)
    dead = await consume_until(
        kafka_bootstrap,
        TOPIC_DEAD_LETTER,
        lambda got: len(got) >= 2,
        keep=lambda r: r.key == user.encode(),
    )
    docs = [orjson.loads(r.value) for r in dead]
    assert [d["error"].split(":")[0] for d in docs] == ["", "type"] or len(docs) == 2
    assert {d["topic"] for d in docs} == {"player-events"}
    assert all(d["value_b64"] for d in docs)


async def test_an_erase_request_removes_the_user_from_live_state_and_from_the_changelogs(
    workers: Callable[..., WorkerProcess], kafka_bootstrap: str
) -> None:
    """SPEC §7: after `watchflow erase-user`'s record, the worker answers for the user as
    for one it never saw, a restart keeps them gone, and a new machine rebuilding from the
    changelogs never sees them; another user's state is untouched throughout."""
    w = workers()
    await w.wait_serving()
    gone, kept = fresh("u"), fresh("u")
    events = [e for u in (gone, kept) for e in session_events(u, "v5", t0=past(), duration_s=120.0)]
    want = expected(events).videos
    await produce(kafka_bootstrap, TOPIC_PLAYER_EVENTS, as_records(events))
    for u in (gone, kept):
        await poll(lambda u=u: _state(w, u, "v5"), lambda d, u=u: d == want[(u, "v5")])
    request = EraseRequest(
        control="erase_user",
        erasure_id=fresh("erasure"),
        user_id=gone,
        requested_at=datetime.now(UTC),
    )
    never = await _state(w, fresh("u"), "v5")  # what a user never seen reads as
    assert never.get("last_watched_at") is None

    def blank(d: dict[str, Any]) -> bool:
        return d.get("user_id") == gone and {**d, "user_id": None} == {**never, "user_id": None}

    await produce(kafka_bootstrap, TOPIC_PLAYER_EVENTS, [(gone.encode(), control_bytes(request))])
    await poll(lambda: _state(w, gone, "v5"), blank)
    history = (await w.get(f"/state/users/{gone}/history")).json()
    assert not (history.get("sessions") if isinstance(history, dict) else history)
    assert await _state(w, kept, "v5") == want[(kept, "v5")]

    w.kill9()  # RocksDB holds the deletions (or the restart re-reads the request)
    w2 = workers()
    await w2.wait_serving()
    await poll(lambda: _state(w2, kept, "v5"), lambda d: d == want[(kept, "v5")])
    assert blank(await _state(w2, gone, "v5"))

    # A new machine (empty data dir) recovers from the changelogs: tombstones, not states.
    w2.kill9()
    w3 = WorkerProcess(kafka_bootstrap, w.app_id, w.data_dir.parent / "fresh", "0").start()
    try:
        await w3.wait_serving()
        assert await _state(w3, kept, "v5") == want[(kept, "v5")]
        assert blank(await _state(w3, gone, "v5"))
    finally:
        w3.kill9()
