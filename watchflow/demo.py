"""``watchflow demo``: the whole pipeline on one machine, driven by a simulated audience.

Starts (or reuses) the local Kafka broker, then the deployables as child processes of their
own, waits until each is ready, drives the audience through the real HTTP API, and prints
where to look. Ctrl-C or ``--duration`` stops everything it started; a broker that was
already running before the demo is left running.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ingest_api.credentials import development_credentials
from watchflow.local_kafka import LocalKafka, LocalKafkaError, jar_dir, kafka_up
from watchflow.processes import ProcessFailed, Supervisor

Echo = Callable[[str], None]


@dataclass(frozen=True)
class DemoConfig:
    data_dir: Path
    kafka_cache: Path
    port: int = 8000
    kafka_port: int = 9092
    worker_port: int = 6066
    duration_s: float | None = None
    backfill_days: float = 3.0
    rate: float = 300.0
    live_s: float | None = None  # how long the live audience watches; None: until stopped


def run(config: DemoConfig, echo: Echo) -> int:
    """Run the demo until Ctrl-C or the duration; 0 when everything started and stopped."""
    data_dir = config.data_dir
    broker = LocalKafka(data_dir, jar_dir(config.kafka_cache), port=config.kafka_port)
    broker_was_running = broker.status() is not None
    try:
        bootstrap = kafka_up(data_dir, config.kafka_cache, config.kafka_port, echo)
    except LocalKafkaError as exc:
        echo(f"demo: the Kafka broker did not start: {exc}")
        return 1
    write_key, read_token = development_credentials(data_dir)
    env = {
        **os.environ,
        "WATCHFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "WATCHFLOW_DATA_DIR": str(data_dir),
        "WATCHFLOW_API_PORT": str(config.port),
    }
    api_url = f"http://127.0.0.1:{config.port}"
    worker_url = f"http://127.0.0.1:{config.worker_port}"
    env["WATCHFLOW_WORKER_WEB_PORT"] = str(config.worker_port)
    env["WATCHFLOW_WORKER_URLS"] = worker_url
    stop = _StopFlag()
    try:
        with Supervisor(data_dir / "logs") as sup:
            worker = sup.start("worker", _watchflow("worker"), env)
            echo(f"starting a stream worker on {worker_url} (log: {worker.log_path})")
            sup.wait_http(worker, f"{worker_url}/state/users/probe/history", timeout_s=180)
            echo("stream worker ready: live watch state")
            api = sup.start("api", _watchflow("api"), env)
            echo(f"starting the API on {api_url} (log: {api.log_path})")
            sup.wait_http(api, f"{api_url}/readyz")
            echo("API ready: events go through Kafka")
            sink = sup.start("sink", _watchflow("sink"), env)
            rollup = sup.start("rollup", _watchflow("rollup", "--interval", "5"), env)
            echo(
                f"warehouse: sink into tier 1 (log: {sink.log_path}), rollups every 5 s "
                f"(log: {rollup.log_path})"
            )
            audience = sup.start("audience", _audience_argv(config, api_url), env, may_finish=True)
            echo(
                f"simulated audience: catalog, {_days(config.backfill_days)} of history, then live "
                f"viewers at up to {config.rate:g} events/s (log: {audience.log_path}; what "
                f"they truly watched goes to {data_dir / 'truth.json'} when they stop)"
            )
            _where_to_look(echo, api_url, write_key, read_token, bootstrap, data_dir)
            deadline = None if config.duration_s is None else time.monotonic() + config.duration_s
            while not stop.requested and (deadline is None or time.monotonic() < deadline):
                sup.check()
                time.sleep(0.5)
            echo("stopping ...")
    except ProcessFailed as exc:
        echo(f"demo: {exc}")
        return 1
    finally:
        stop.restore()
        if not broker_was_running:
            broker.down()
    echo("demo stopped; nothing left running")
    return 0


def _audience_argv(config: DemoConfig, api_url: str) -> list[str]:
    # By default the live audience watches for as long as the demo runs.
    live_s = config.live_s if config.live_s is not None else config.duration_s
    if live_s is None:
        live_s = 365 * 86400.0
    return _watchflow(
        "simulate",
        "--api-url", api_url,
        "--backfill-days", f"{config.backfill_days:g}",
        "--duration", f"{live_s:g}",
        "--rate", f"{config.rate:g}",
        "--truth-out", str(config.data_dir / "truth.json"),
        "--quiet",
    )  # fmt: skip


def _days(n: float) -> str:
    return f"{n:g} day" if n == 1 else f"{n:g} days"


def _watchflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "watchflow.cli", *args]


def _where_to_look(
    echo: Echo, api_url: str, write_key: str, read_token: str, bootstrap: str, data_dir: Path
) -> None:
    echo("")
    echo("watchflow demo is running (Ctrl-C stops it)")
    echo(f"  dashboard      {api_url}/dashboard?token={read_token}")
    echo(f"  API            {api_url}  (health {api_url}/readyz, metrics {api_url}/metrics)")
    echo(f"  write key      {write_key}")
    echo(f"  read token     {read_token}  (analyst: sees everything)")
    auth = f'-H "Authorization: Bearer {read_token}"'
    echo("  try            curl -s " + auth + f" {api_url}/v1/videos/top")
    echo("                 curl -s " + auth + f" {api_url}/v1/users?limit=5")
    echo("                 curl -s " + auth + f" '{api_url}/v1/users/<user_id>/continue-watching'")
    warehouse = data_dir / "warehouse" / "analytics.duckdb"
    echo(f"  analysts       duckdb -readonly {warehouse}")
    echo("                 SELECT video_id, sum(views) FROM video_daily GROUP BY 1")
    echo(f"  Kafka          {bootstrap}  (topics player-events, catalog, watch-milestones, ...)")
    echo(
        f"  logs           {data_dir / 'logs'}  (truth of the audience: {data_dir / 'truth.json'})"
    )
    echo("")


class _StopFlag:
    """Turns SIGINT/SIGTERM into a flag the main loop polls, so cleanup always runs."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)
        }

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
