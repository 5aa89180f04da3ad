"""The whole product, as a newcomer runs it: ``watchflow demo`` for a bounded time.

The demo starts its own broker, worker, API, sink, rollups and a simulated audience. While it
runs, every SPEC §6 path must answer with data, and the pipeline's figures must match what the
simulator knows each viewer truly watched, within SPEC §4.1's tolerance (10 s per session).
Ctrl-C must then stop everything and leave no process behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import free_port

pytestmark = pytest.mark.integration


@dataclass
class Demo:
    url: str
    token: str
    truth: dict[str, Any]
    proc: subprocess.Popen[bytes]
    data_dir: Path

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(
            self.url + path,
            params=params,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )

    def json(self, path: str, **params: str) -> Any:
        r = self.get(path, **params)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
        return r.json()


def _eventually(check: Callable[[], list[str]], timeout_s: float, what: str) -> None:
    """Poll ``check`` (a list of mismatches) until it is empty or the time is up."""
    deadline = time.monotonic() + timeout_s
    problems = check()
    while problems and time.monotonic() < deadline:
        time.sleep(2)
        problems = check()
    assert not problems, f"{what}: {len(problems)} mismatches, e.g. " + "; ".join(problems[:5])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("demo")
    port = free_port()
    argv = [
        sys.executable, "-m", "watchflow.cli", "demo",
        "--port", str(port), "--kafka-port", str(free_port()),
        "--worker-port", str(free_port()),
        "--backfill-days", "2", "--rate", "400", "--live", "20",
    ]  # fmt: skip
    env = {**os.environ, "WATCHFLOW_DATA_DIR": str(data_dir)}
    log = (data_dir / "demo.out").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        truth_path = data_dir / "truth.json"
        deadline = time.monotonic() + 300
        while not truth_path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "the demo's audience never finished:\n"
                    + (data_dir / "demo.out").read_text()[-3000:]
                )
            time.sleep(1)
        time.sleep(0.5)  # written by rename, but give the writer a beat
        creds = json.loads((data_dir / "dev-credentials.json").read_text())
        yield Demo(
            url=f"http://127.0.0.1:{port}",
            token=creds["read_token"],
            truth=json.loads(truth_path.read_text()),
            proc=proc,
            data_dir=data_dir,
        )
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()


def _played_videos(truth: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (user_id, video_id, v)
        for user_id, user in truth["users"].items()
        for video_id, v in user["videos"].items()
        if v["sessions"] > 0
    ]


def test_live_state_matches_what_viewers_truly_watched(demo: Demo) -> None:
    played = _played_videos(demo.truth)
    assert len(played) > 20

    def mismatches() -> list[str]:
        out = []
        for user_id, video_id, v in played:
            r = demo.get(f"/v1/users/{user_id}/videos/{video_id}")
            if r.status_code != 200:
                out.append(f"{user_id}/{video_id}: HTTP {r.status_code}")
                continue
            s = r.json()
            tol = v["tolerance_s"]
            dur = v["duration_s"]
            checks = {
                "watch_time_s": (s["watch_time_s"], v["watch_time_s"], tol),
                "coverage": (s["coverage"] * dur, v["cycle_coverage"] * dur, tol),
                "position_s": (s["position_s"], v["resume_position_s"], tol),
            }
            for name, (got, want, slack) in checks.items():
                if abs(got - want) > slack + 1e-6:
                    out.append(f"{user_id}/{video_id} {name}: {got:.1f} vs truth {want:.1f}")
            # Status and cycles follow from coverage; compare them unless the truth sits within
            # the tolerance of the threshold, where either side of it is a correct reading.
            threshold = demo.truth["users"][user_id]["completion_threshold"]
            if abs(v["cycle_coverage"] - threshold) * dur > tol:
                got_c = (s["status"], s["cycle"], s["completed_count"])
                want_c = (v["status"], v["cycle"], v["completed_count"])
                if got_c != want_c:
                    out.append(f"{user_id}/{video_id} status/cycle/count {got_c} vs {want_c}")
        return out

    _eventually(mismatches, 120, "live state vs truth")


def _settled_sessions_by_video_day(truth: dict[str, Any]) -> dict[tuple[str, str], list[Any]]:
    """Truth sessions per (video, UTC day of start), only for pairs whose every session ended
    long enough ago that the pipeline has closed it (idle ones close after 30 min of event time).
    """
    live_from = datetime.fromisoformat(truth["live"]["from"]) if "live" in truth else None
    cutoff = (live_from or datetime.now(UTC)) - timedelta(minutes=35)
    pairs: dict[tuple[str, str], list[Any]] = defaultdict(list)
    unsettled: set[tuple[str, str]] = set()
    for user in truth["users"].values():
        for s in user["sessions"]:
            started = datetime.fromisoformat(s["started_at"])
            key = (s["video_id"], started.date().isoformat())
            pairs[key].append(s)
            if s["end"] == "open" or datetime.fromisoformat(s["ended_at"]) > cutoff:
                unsettled.add(key)
    return {k: v for k, v in pairs.items() if k not in unsettled}


def test_video_daily_matches_the_truth(demo: Demo) -> None:
    settled = _settled_sessions_by_video_day(demo.truth)
    assert len(settled) > 10
    days = sorted({day for _, day in settled})

    def mismatches() -> list[str]:
        out = []
        for video_id in sorted({v for v, _ in settled}):
            doc = demo.json(f"/v1/videos/{video_id}/analytics", **{"from": days[0], "to": days[-1]})
            rows = {row["day"]: row for row in doc["rows"]}
            for (vid, day), sessions in settled.items():
                if vid != video_id:
                    continue
                row = rows.get(day)
                if row is None:
                    out.append(f"{video_id} {day}: no video_daily row")
                    continue
                want_watch = sum(s["watch_time_s"] for s in sessions)
                tol = 10.0 * len(sessions)
                if row["views"] != len(sessions):
                    out.append(f"{video_id} {day}: views {row['views']} vs truth {len(sessions)}")
                if abs(row["watch_time_s"] - want_watch) > tol:
                    out.append(
                        f"{video_id} {day}: watch {row['watch_time_s']:.0f} vs {want_watch:.0f}"
                    )
        return out

    _eventually(mismatches, 120, "video_daily vs truth")


def test_every_summary_path_answers_with_data(demo: Demo) -> None:
    truth = demo.truth
    users = truth["users"]
    # A viewer with something to resume, and one with a series in progress.
    resumable = next(
        u
        for u, user in users.items()
        if any(
            v["status"] == "watching"
            and v["duration_s"] >= 300
            and 0.05 * v["duration_s"] <= v["resume_position_s"] <= 0.9 * v["duration_s"]
            for v in user["videos"].values()
        )
    )
    watcher = max(users, key=lambda u: users[u]["watch_time_s"])
    video = max(
        {vid for user in users.values() for vid in user["videos"]},
        key=lambda vid: sum(vid in user["videos"] for user in users.values()),
    )

    def non_empty() -> list[str]:
        out = []
        checks: list[tuple[str, Callable[[Any], bool]]] = [
            (f"/v1/users/{watcher}/videos/{next(iter(users[watcher]['videos']))}",
             lambda d: d["watch_time_s"] > 0),
            (f"/v1/users/{resumable}/continue-watching", lambda d: len(d["items"]) > 0),
            (f"/v1/users/{watcher}/next-up", lambda d: len(d["items"]) > 0),
            (f"/v1/users/{watcher}/history", lambda d: len(d["sessions"]) > 0),
            (f"/v1/users/{watcher}/analytics/daily", lambda d: len(d["rows"]) > 0),
            (f"/v1/users/{watcher}/analytics/weekly", lambda d: len(d["rows"]) > 0),
            (f"/v1/users/{watcher}/analytics/monthly", lambda d: len(d["rows"]) > 0),
            (f"/v1/users/{watcher}/analytics/dashboard", lambda d: d["all_time"] is not None),
            (f"/v1/videos/{video}/analytics", lambda d: d["totals"]["unique_viewers"] > 0),
            (f"/v1/videos/{video}/retention", lambda d: len(d["buckets"]) == 100),
        ]  # fmt: skip
        for path, ok in checks:
            r = demo.get(path)
            if r.status_code != 200:
                out.append(f"{path}: HTTP {r.status_code}")
            elif not ok(r.json()):
                out.append(f"{path}: empty {r.text[:200]}")
        top = demo.json("/v1/videos/top")["videos"]
        creator = top[0]["creator_id"] if top else None
        if creator is None:
            out.append("/v1/videos/top: empty")
        else:
            d = demo.json(f"/v1/creators/{creator}/dashboard")
            if not d["top_videos"]:
                out.append(f"/v1/creators/{creator}/dashboard: no top videos")
        page = httpx.get(demo.url + "/dashboard", timeout=10)
        if page.status_code != 200 or "<title>watchflow" not in page.text:
            out.append("/dashboard: not the dashboard page")
        return out

    _eventually(non_empty, 90, "SPEC §6 paths")


def _processes_of(data_dir: Path) -> list[int]:
    """Pids whose command line or environment names the demo's data dir."""
    needle = str(data_dir).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            blob = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if needle in blob:
            pids.append(int(proc.name))
    return pids


def test_ctrl_c_stops_everything_and_leaves_no_process(demo: Demo) -> None:
    assert demo.proc.poll() is None, "the demo stopped by itself"
    children = _processes_of(demo.data_dir)
    assert len(children) >= 5  # demo, broker, worker, API, sink, rollup
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(90) == 0
    deadline = time.monotonic() + 10
    while _processes_of(demo.data_dir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_of(demo.data_dir) == []
