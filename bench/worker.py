"""``python -m bench worker``: events/s per stream-worker process, against Quix Streams and a bare
aiokafka loop, on the same broker, topic, partitions and events; then p99 from acknowledgement
to visible state at 70 % of the worker's rate, and state bytes per (user, video).

1. A fresh broker (pinned with this process to core 1); ``player-events`` (8 partitions) is
   pre-filled by a bare producer with coherent viewer timelines (``bench.worker_events``).
2. Each consumer, in turn, runs pinned to core 0 under a fresh consumer group from the
   earliest offset: the real ``watchflow worker`` (Faust, RocksDB, changelogs), the Quix
   Streams peer and the aiokafka ceiling (``bench.worker_peers``, the same ``Processor``).
   All commit every ``commit_interval_s``; this process polls the group's committed offsets
   and times from the first commit to the one that covers every event: events/s, and the
   consumer's CPU over that window (/proc) for events per CPU-second.
3. With the worker caught up (still running), the same viewers' next events (steady
   traffic; ``--latency-fresh``: as many viewers it has never seen, all arriving within the
   first second, a flash crowd) are produced at 70 % of its rate straight to Kafka
   (acks=all, the API's producer settings: the Kafka ack is what the API acknowledges on);
   probes are timed from their ack to *visible* (a few per second polled for through the
   SPEC §6 live read on a ``watchflow api``, on the broker's core) and to *durable* (every
   k-th playback event, on the worker's ``videos`` changelog): see
   ``bench.worker_latency``. The worker's own timings of the window (``/stats/hot-path``)
   say where the time went.
4. The worker stops; its ``videos`` RocksDB is compacted and measured (bytes / keys), and its
   changelog read back (bytes / record), plus the changelog's size on the broker's disk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import streams.model
from bench import report, worker_events, worker_latency
from bench.ingest import BROKER_OVERRIDES
from bench.processes import (
    BenchError,
    cpu_seconds,
    pin_self,
    pinned,
    placement,
    python_module,
    tail,
)
from bench.worker_report import table
from watchflow.local_kafka import LocalKafka, LocalKafkaError, fetch_jars, free_port

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Config:
    events: int = 80_000
    viewers: int = 4_000
    peer_runs: int = 3
    worker_runs: int = 1
    latency_s: float = 40.0  # of paced events at 70 % of the worker's rate
    latency_pool: int = 200_000  # events generated for it
    latency_fresh: bool = False  # paced events of new viewers (else the same viewers watch on)
    latency_load: float = 0.7
    latency_rate: float = 0.0  # events/s offered; 0: latency_load × the rate just measured
    probe_every: int = 20  # playback events per durable probe
    visible_per_s: float = 5.0  # probes polled for through the live read
    commit_interval_s: float = 1.0
    partitions: int = 8
    timeout_s: float = 900.0
    target_events_s: float = 25_000.0
    target_p99_ms: float = 100.0


QUICK = Config(
    events=20_000, viewers=1_500, peer_runs=1, latency_s=10.0, latency_pool=10_000, probe_every=5
)


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Run:
    def __init__(self, cfg: Config, tmp: Path, bootstrap: str, core: int | None) -> None:
        self.cfg, self.tmp, self.bootstrap, self.core = cfg, tmp, bootstrap, core

    def drain(self, proc: subprocess.Popen[bytes], group: str, log: Path) -> dict[str, Any]:
        """Poll ``group``'s commits until they cover every event: rate and CPU in between."""
        return asyncio.run(self._drain(proc, group, log))

    async def _drain(self, proc: subprocess.Popen[bytes], group: str, log: Path) -> dict[str, Any]:
        total = self.cfg.events
        start = time.perf_counter()
        first: tuple[float, int, float] | None = None
        async with worker_events.GroupProgress(self.bootstrap) as progress:
            while True:
                if proc.poll() is not None:
                    raise BenchError(f"{group} exited ({proc.returncode}):\n{tail(log)}")
                if time.perf_counter() - start > self.cfg.timeout_s:
                    raise BenchError(f"{group} did not finish in {self.cfg.timeout_s:.0f} s")
                done = await progress.committed(group)
                now, cpu = time.perf_counter(), cpu_seconds(proc.pid)
                if first is None and done > 0:
                    first = (now, done, cpu)
                if first is not None and done >= total:
                    t0, n0, c0 = first
                    seconds = max(now - t0, 1e-9)
                    return {
                        "events": total - n0,
                        "seconds": seconds,
                        "events_s": (total - n0) / seconds,
                        "cpu": (cpu - c0) / seconds,
                        "per_core": (total - n0) / max(cpu - c0, 1e-9),
                        "startup_s": t0 - start,
                        "loadavg": os.getloadavg()[0],
                    }
                await asyncio.sleep(0.1)

    def start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                pinned(command, self.core),
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def peer(self, name: str) -> dict[str, Any]:
        group = f"bench-{name}-{uuid.uuid4().hex[:6]}"
        state = self.tmp / group
        log = self.tmp / f"{group}.log"
        command = python_module(
            "bench.worker_peers",
            name,
            self.bootstrap,
            group,
            str(state),
            f"--commit-interval={self.cfg.commit_interval_s}",
        )
        proc = self.start(command, {}, log)
        try:
            out = self.drain(proc, group, log)
        finally:
            stop(proc)
        out["state_dir_bytes"] = _du(state) if state.exists() else 0
        return out

    def worker(self, latency: worker_events.Events | None) -> dict[str, Any]:
        app_id = f"bench-worker-{uuid.uuid4().hex[:6]}"
        data, port = self.tmp / app_id, free_port(HOST)
        log = self.tmp / f"{app_id}.log"
        env = {
            "WATCHFLOW_KAFKA_BOOTSTRAP": self.bootstrap,
            "WATCHFLOW_DATA_DIR": str(data),
            "WATCHFLOW_APP_ID": app_id,
            "WATCHFLOW_PARTITIONS": str(self.cfg.partitions),
            "WATCHFLOW_WORKER_WEB_PORT": str(port),
            "WATCHFLOW_COMMIT_INTERVAL_S": str(self.cfg.commit_interval_s),
            "WATCHFLOW_LOG_LEVEL": "WARNING",
        }
        proc = self.start(python_module("watchflow.cli", "worker"), env, log)
        try:
            out = self.drain(proc, app_id, log)
            if latency is not None:
                load = self.cfg.latency_rate or out["events_s"] * self.cfg.latency_load
                n = min(len(latency.values), round(load * self.cfg.latency_s))
                latency, _ = latency.split(n)
                report.progress(f"latency: {n:,} events at {load:,.0f} ev/s")
                out["latency"] = worker_latency.measure(
                    self.bootstrap,
                    self.tmp / f"{app_id}-api",
                    port,
                    f"{app_id}-videos-changelog",
                    self.cfg.partitions,
                    latency,
                    load,
                    proc.pid,
                    self.cfg.probe_every,
                    self.cfg.visible_per_s,
                )
                out["latency"]["load"] = load / out["events_s"]  # of the rate just measured
        finally:
            stop(proc)
        if latency is not None:
            try:
                out["state"] = self.state_bytes(app_id, data)
            except Exception as exc:  # a measurement of the leftovers: keep the rest
                out["state"] = {"error": repr(exc)}
        return out

    def state_bytes(self, app_id: str, data: Path) -> dict[str, Any]:
        """The ``videos`` table on disk after a full compaction, and its changelog."""
        from rocksdict import Options, Rdict

        keys = size = payload = 0
        for db in sorted(p for p in data.rglob("*videos*") if (p / "CURRENT").exists()):
            rd = Rdict(str(db), options=Options(raw_mode=True))  # as Faust opens it
            rd.flush()
            rd.compact_range(None, None)
            for k, v in rd.items():
                keys += 1
                payload += len(cast(bytes, k)) + len(cast(bytes, v))
            rd.close()
            size += sum(f.stat().st_size for f in db.glob("*.sst"))
        topic = f"{app_id}-videos-changelog"
        records = asyncio.run(
            worker_events.record_count(self.bootstrap, topic, self.cfg.partitions)
        )
        # .log segments only: the index files of an active segment are preallocated.
        on_disk = sum(f.stat().st_size for f in self.tmp.rglob(f"{topic}-*/*.log"))
        return {
            "videos_keys": keys,
            "key_value_bytes_per_key": payload / max(1, keys),
            "rocksdb_sst_bytes": size,
            "rocksdb_sst_bytes_per_key": size / max(1, keys),
            "changelog_records": records,
            "changelog_disk_bytes": on_disk,
            "changelog_disk_bytes_per_record": on_disk / max(1, records),
        }


def stop(proc: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(cfg: Config) -> dict[str, Any]:
    cores = placement()
    core, load_core = cores if cores else (None, None)
    if load_core is not None:
        pin_self(load_core)  # the broker (started next) inherits it
    tmp = Path(tempfile.mkdtemp(prefix="watchflow-bench-worker-"))
    cache = os.environ.get("WATCHFLOW_KAFKA_CACHE") or Path.home() / ".cache" / "watchflow"
    broker = LocalKafka(tmp, fetch_jars(Path(cache)), port=0, detach=False,
                        overrides=BROKER_OVERRIDES)  # fmt: skip
    try:
        bootstrap = broker.up()
        report.progress(f"broker {bootstrap}; generating {cfg.events:,} + {cfg.latency_pool:,}")
        if cfg.latency_fresh:
            events = worker_events.generate(cfg.events, cfg.viewers, tag="tp")
            latency = worker_events.generate(cfg.latency_pool, cfg.viewers, tag="lat", seed=2)
        else:
            n = cfg.events + cfg.latency_pool
            events, latency = worker_events.generate(n, cfg.viewers, tag="tp").split(cfg.events)
        asyncio.run(worker_events.create_topics(bootstrap, cfg.partitions))
        fill_s = asyncio.run(worker_events.prefill(bootstrap, events))
        report.progress(f"pre-filled in {fill_s:.1f} s ({events.avg_bytes:.0f} B/event)")
        r = Run(cfg, tmp, bootstrap, core)
        found: dict[str, list[dict[str, Any]]] = {"worker": [], "quix": [], "aiokafka": []}
        for i in range(max(cfg.peer_runs, cfg.worker_runs)):
            for name in ("quix", "aiokafka"):
                if i < cfg.peer_runs:
                    found[name].append(r.peer(name))
                    report.progress(f"{name} run {i + 1}: {found[name][-1]['events_s']:,.0f} ev/s")
            if i < cfg.worker_runs:
                # The last run also measures latency, at 70 % of its own rate.
                lat = latency if i == cfg.worker_runs - 1 else None
                found["worker"].append(r.worker(lat))
                report.progress(f"worker run {i + 1}: {found['worker'][-1]['events_s']:,.0f} ev/s")
        return {
            "benchmark": "worker",
            "config": asdict(cfg),
            "model": streams.model.LOADED_AS,  # what the consumers, same venv and env, load
            "placement": {"consumer_core": core, "broker_core": load_core},
            "events": {"count": cfg.events, "avg_bytes": events.avg_bytes, "prefill_s": fill_s},
            "runs": found,
        }
    finally:
        broker.down()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench worker", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run (1-2 minutes)")
    parser.add_argument("--events", type=int, help="events pre-filled (default 150k)")
    parser.add_argument("--worker-runs", type=int, help="runs of the worker (default 1)")
    parser.add_argument("--peer-runs", type=int, help="runs of each peer (default 3; 0: none)")
    parser.add_argument(
        "--latency-rate", type=float, help="events/s for latency (default: 70 %% of the rate)"
    )
    parser.add_argument(
        "--visible-per-s", type=float, help="probes read through the API per second (0: none)"
    )
    parser.add_argument(
        "--latency-fresh",
        action="store_true",
        default=None,
        help="pace new viewers' events (a flash crowd) instead of the same viewers' next ones",
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    given = {
        "events": args.events,
        "worker_runs": args.worker_runs,
        "peer_runs": args.peer_runs,
        "visible_per_s": args.visible_per_s,
        "latency_rate": args.latency_rate,
        "latency_fresh": args.latency_fresh,
    }
    cfg = Config(**{**asdict(cfg), **{k: v for k, v in given.items() if v is not None}})
    env = report.environment()
    try:
        found = run(cfg)
    except (BenchError, LocalKafkaError) as exc:
        print(f"worker benchmark failed: {exc}")
        return 1
    found["environment"] = {**env, "loadavg_after": Path("/proc/loadavg").read_text().split()[:3]}
    print(table(found))
    path = report.save(found, "worker")
    print(f"\nsaved {path}")
    return 0
