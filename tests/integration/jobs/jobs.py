"""The warehouse jobs as subprocesses (``python -m watchflow.cli sink|rollup``), producing
straight onto the pipeline's topics, and reading what landed in the warehouse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from warehouse import views

ROOT = Path(__file__).resolve().parents[3]


def job_env(bootstrap: str, data_dir: Path, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "WATCHFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "WATCHFLOW_DATA_DIR": str(data_dir),
        "WATCHFLOW_PARTITIONS": "8",
        "WATCHFLOW_WAREHOUSE_THREADS": "2",
        **more,
    }


@dataclass
class SinkProcess:
    """One ``watchflow sink`` with its own data dir and consumer group; logs to sink.log."""

    bootstrap: str
    data_dir: Path
    group: str
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "sink.log"

    def start(self) -> SinkProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = job_env(self.bootstrap, self.data_dir, WATCHFLOW_SINK_GROUP=self.group, **self.env)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "watchflow.cli", "sink"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        """SIGTERM, as an operator would; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def rollup_once(bootstrap: str, data_dir: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "watchflow.cli", "rollup", "--once"],
        env=job_env(bootstrap, data_dir),
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )


def keyed(docs: Iterable[dict[str, Any]], key: str) -> list[tuple[bytes, bytes]]:
    return [(str(d[key]).encode(), orjson.dumps(d)) for d in docs]


async def committed(bootstrap: str, group: str, topic: str) -> int:
    """The sum of the group's committed offsets on ``topic`` (0 before its first commit)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except KafkaError:  # a fresh broker has no group coordinator until the first group forms
        return 0
    finally:
        await admin.close()
    return sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0)


def query(data_dir: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """What an analyst sees now (an empty list before the sink created the warehouse)."""
    if not (data_dir / "warehouse" / "analytics.duckdb").exists():
        return []
    con = views.connect(data_dir)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
