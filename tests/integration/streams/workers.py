"""Stream workers as subprocesses (``python -m watchflow.cli worker``), and the events and
expectations the worker tests share."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from streams import live_state, records, tables
from streams.model.catalog import Catalog
from streams.model.rules import Rules
from streams.processor import Processor
from tests.support.events import iso
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class WorkerProcess:
    """One ``watchflow worker`` subprocess with its own data dir, web port and log."""

    bootstrap: str
    app_id: str
    data_dir: Path
    worker_id: str = "0"
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WorkerProcess:
        env = {
            **os.environ,
            "WATCHFLOW_KAFKA_BOOTSTRAP": self.bootstrap,
            "WATCHFLOW_APP_ID": self.app_id,
            "WATCHFLOW_WORKER_ID": self.worker_id,
            "WATCHFLOW_PARTITIONS": "8",
            "WATCHFLOW_SESSION_TIMEOUT_S": "6",
            "WATCHFLOW_STANDBY_REPLICAS": "0",
            **self.env,
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / f"worker-{self.worker_id}.log").open("ab") as log:
            self.proc = self._spawn(env, log)
        return self

    def _spawn(self, env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "watchflow.cli", "worker"),
                *("--web-port", str(self.port), "--data-dir", str(self.data_dir)),
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        """SIGTERM, as an operator would; the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise

    async def get(self, path: str, **params: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=5) as client:
            return await client.get(self.url + path, params=params)

    async def wait_serving(self, timeout_s: float = 60.0) -> None:
        """Until the worker answers reads (it has partitions and recovered them)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, "worker exited"
            try:
                if (await self.get("/state/users/probe/history")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"worker {self.worker_id} never served reads")


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def session_events(
    user: str, video: str, *, t0: datetime, duration_s: float = 300.0, step_s: float = 10.0
) -> list[dict[str, Any]]:
    """A whole viewing: start, a heartbeat every ``step_s`` to the end, stop."""
    sid = fresh("s")
    evs: list[dict[str, Any]] = []
    n = int(duration_s // step_s)

    def ev(type_: str, seq: int, pos: float, **more: Any) -> dict[str, Any]:
        return {
            "event_id": fresh("evt") + f"-{seq}",
            "type": type_,
            "ts": iso(t0 + timedelta(seconds=seq * step_s)),
            "user_id": user,
            "device_id": "tv-1",
            "video_id": video,
            "session_id": sid,
            "seq": seq,
            "position_s": pos,
            **more,
        }

    evs.append(ev("start", 0, 0.0, duration_s=duration_s))
    evs += [ev("heartbeat", i, i * step_s) for i in range(1, n + 1)]
    evs.append(ev("stop", n + 1, duration_s))
    return evs


def past(hours: float = 2.0) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours)


def as_records(events: Iterable[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    return [(str(e["user_id"]).encode(), orjson.dumps(e)) for e in events]


@dataclass
class Expected:
    """What an uninterrupted run gives: the pure model over the same events, in order."""

    videos: dict[tuple[str, str], dict[str, Any]]
    milestone_ids: set[str]


def expected(events: list[dict[str, Any]]) -> Expected:
    proc = Processor({}, {}, {}, Catalog(), Rules(), partitions=8)
    ids: set[str] = set()
    keys: set[tuple[str, str]] = set()
    for e in events:
        ev = records.decode_event(None, orjson.dumps(e))
        step = proc.advance(ev, tables.partition_of(ev.user_id.encode(), 8))
        ids.update(m.milestone_id for m in step.milestones)
        proc.apply(step)
        keys.add((str(e["user_id"]), str(e["video_id"])))
    videos = {
        (u, v): live_state.video(u, v, proc.video(tables.video_key(u, v)), None, None)
        for u, v in keys
    }
    return Expected(videos, ids)
