"""The ingest benchmark: events/s of ONE API process over keep-alive HTTP, Kafka acks included.

``python -m bench ingest [--quick]`` starts its own Kafka broker (a temporary directory, a free
port) and one ``watchflow api`` process pinned to the first core, then drives ``POST
/v1/events`` from this process, pinned to the second core, which the broker shares. For batches
of 1, 10 and 100 events it measures:

- the maximum rate: ``connections`` keep-alive clients in a closed loop, median of ``runs``
  (a run in which any request is not acknowledged is repeated on half as many connections);
- latency at 70 % of that rate: an open loop at a fixed request rate, counted from when each
  request was due, so queueing shows (p50/p99);
- CPU cores used by the API, the broker and the load generator (from /proc), so events/s per
  API core is measured rather than assumed;

and, interleaved with those runs, the ceiling: a bare aiokafka producer loop sending the same
events to the same broker and topic from a process on the API's core (``bench.kafka_ceiling``).
Every request must be answered ``200 {"accepted": <batch>, "duplicates": 0, "rejected": []}``:
anything else is counted, named in the table as FAILED, and makes the command exit 1. The
table goes to stdout, progress to stderr, and every figure to
``bench/results/ingest-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvloop

from bench import kafka_ceiling, loadgen, report
from bench.events import EventStream, events_body, make_pool
from bench.processes import (
    BenchError,
    CpuMeter,
    api_server,
    pin_self,
    placement,
    wait_ready,
)
from bench.report import failure_line
from ingest_api.contract import TOPIC_PLAYER_EVENTS
from watchflow.local_kafka import LocalKafka, LocalKafkaError, fetch_jars, free_port

WRITE_KEY = "wk_bench"
HOST = "127.0.0.1"
# Keep the broker's disk use bounded over a long run: ~256 MiB per partition, checked often.
BROKER_OVERRIDES = {
    "log.retention.bytes": str(256 * 1024 * 1024),
    "log.segment.bytes": str(64 * 1024 * 1024),
    "log.retention.check.interval.ms": "10000",
}


@dataclass(frozen=True)
class Config:
    batches: tuple[int, ...] = (1, 10, 100)
    runs: int = 3
    seconds: float = 8.0  # per measurement
    warmup_s: float = 2.0  # per batch size, before its first run
    connections: int = 32  # closed loop
    latency_connections: int = 64  # open loop: enough that a due request rarely waits
    latency_load: float = 0.7  # of the median maximum request rate
    partitions: int = 8
    target_per_core: float = 100_000.0  # events/s per API core at batch 100 (the issue's)


QUICK = Config(runs=1, seconds=2.0, warmup_s=0.5)


def request_maker(port: int, stream: EventStream, batch: int) -> loadgen.MakeRequest:
    """Requests of ``batch`` fresh events each (unique event_id, ts of now)."""
    head = (
        b"POST /v1/events HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
    ) % (HOST.encode(), port, WRITE_KEY.encode())

    def make() -> bytes:
        body = events_body(stream.next(batch)[1])
        return b"%s%d\r\n\r\n%s" % (head, len(body), body)

    return make


def acknowledged(batch: int) -> loadgen.Check:
    """Whether a response says every event of the request was accepted."""
    expected = b'{"accepted":%d,"duplicates":0,"rejected":[]}' % batch
    return lambda status, body: status == 200 and body == expected


class Bench:
    """The running broker and API, and the measurements made against them."""

    def __init__(self, cfg: Config, port: int, pids: dict[str, int]) -> None:
        self.cfg, self.port, self.pids = cfg, port, pids
        self.stream = EventStream(make_pool())

    def load(
        self, batch: int, seconds: float, connections: int, rate: float | None = None
    ) -> dict[str, Any]:
        """A closed loop (``rate`` None: the maximum) or an open loop at ``rate`` req/s."""
        meter = CpuMeter(self.pids)
        make, check = request_maker(self.port, self.stream, batch), acknowledged(batch)
        meter.start()
        if rate is None:
            run = loadgen.closed_loop(
                HOST, self.port, make, check, connections=connections, seconds=seconds
            )
        else:
            run = loadgen.open_loop(
                HOST, self.port, make, check, connections=connections, seconds=seconds, rate=rate
            )
        result = uvloop.run(run)
        cpu, waiting = meter.stop()
        if result.failures:  # the API answers 503 for a while after Kafka failed it once
            wait_ready(f"http://{HOST}:{self.port}/readyz")
        ms = 1000.0
        return {
            "connections": connections,
            "req_s": result.rate,
            "events_s": result.rate * batch,
            "requests": result.requests,
            "failures": result.failures,
            "first_failure": result.first_failure,
            "p50_ms": result.percentile(50) * ms,
            "p99_ms": result.percentile(99) * ms,
            "p999_ms": result.percentile(99.9) * ms,
            "send_lag_p99_ms": result.percentile(99, result.send_lag_s) * ms,
            "max_backlog": result.max_backlog,
            "offered_req_s": rate,
            "cpu": cpu,
            "waiting_for_cpu": waiting,
        }


def measure(cfg: Config, bench: Bench, bootstrap: str, api_core: int | None) -> dict[str, Any]:
    """Every measurement, the API's and the ceiling's runs interleaved so noise hits both.

    A closed-loop run in which any request was not acknowledged is recorded under
    ``overloaded`` and repeated on half as many connections: the maximum rate is the one
    reached with every request acknowledged, and the table names the concurrency it needed.
    """
    say = report.progress
    conns = dict.fromkeys(cfg.batches, cfg.connections)
    overloaded: list[dict[str, Any]] = []

    def closed_loop(batch: int, seconds: float) -> dict[str, Any]:
        while True:
            r = bench.load(batch, seconds, conns[batch])
            if not r["failures"] or conns[batch] == 1:
                return r
            overloaded.append({"batch": batch, **r})
            say(f"FAILED {failure_line(batch, r)}")
            conns[batch] //= 2
            say(f"batch {batch}: again on {conns[batch]} connections")

    for batch in cfg.batches:
        say(f"warm-up: batch {batch}, {cfg.warmup_s:g} s")
        closed_loop(batch, cfg.warmup_s)
    closed: dict[int, list[dict[str, Any]]] = {b: [] for b in cfg.batches}
    ceiling: dict[str, list[dict[str, Any]]] = {v: [] for v in kafka_ceiling.VARIANTS}
    for run in range(1, cfg.runs + 1):
        for batch in cfg.batches:
            r = closed_loop(batch, cfg.seconds)
            closed[batch].append(r)
            say(
                f"run {run}/{cfg.runs} batch {batch:>3} ({r['connections']} conns): "
                f"{r['events_s']:>9,.0f} ev/s, API {r['cpu']['api']:.2f} cores "
                f"(+{r['waiting_for_cpu']['api']:.2f} waiting), broker "
                f"{r['cpu']['broker']:.2f}, load generator {r['cpu']['loadgen']:.2f}"
            )
        for variant in kafka_ceiling.VARIANTS:
            c = kafka_ceiling.run(bootstrap, TOPIC_PLAYER_EVENTS, variant, cfg.seconds, api_core)
            ceiling[variant].append(c)
            say(
                f"run {run}/{cfg.runs} aiokafka {variant}: {c['events_s']:>9,.0f} ev/s, "
                f"{c['cpu']:.2f} cores (+{c['waiting']:.2f} waiting)"
            )
    latency: dict[int, dict[str, Any]] = {}
    for batch in cfg.batches:
        rate = cfg.latency_load * statistics.median(r["req_s"] for r in closed[batch])
        latency[batch] = lat = bench.load(batch, cfg.seconds, cfg.latency_connections, rate)
        say(
            f"latency batch {batch:>3} at {rate:,.0f} req/s: p50 {lat['p50_ms']:.2f} ms, "
            f"p99 {lat['p99_ms']:.2f} ms"
        )
        if lat["failures"]:
            say(f"FAILED {failure_line(batch, lat)}")
    return {"closed": closed, "latency": latency, "ceiling": ceiling, "overloaded": overloaded}


@dataclass(frozen=True)
class Stack:
    bench: Bench
    bootstrap: str
    api_core: int | None
    load_core: int | None


@contextlib.contextmanager
def stack(cfg: Config, api_module: Sequence[str] = ("watchflow.cli", "api")) -> Iterator[Stack]:
    """A fresh broker and one API process, each pinned; both are stopped, and their temporary
    directory removed, on exit."""
    cores = placement()
    api_core, load_core = cores if cores else (None, None)
    if load_core is not None:
        pin_self(load_core)  # before the broker starts: the JVM inherits this core
    else:
        report.progress("fewer than 2 usable cores: nothing is pinned")
    tmp = Path(tempfile.mkdtemp(prefix="watchflow-bench-"))
    report.progress(f"starting a Kafka broker in {tmp}")
    # Where `watchflow kafka up` and the tests keep the broker's jars.
    cache = os.environ.get("WATCHFLOW_KAFKA_CACHE") or Path.home() / ".cache" / "watchflow"
    libs = fetch_jars(Path(cache))
    broker = LocalKafka(tmp, libs, port=0, detach=False, overrides=BROKER_OVERRIDES)
    try:
        bootstrap = broker.up()
        state = broker.status()
        assert state is not None
        port = free_port(HOST)
        env = {
            "WATCHFLOW_KAFKA_BOOTSTRAP": bootstrap,
            "WATCHFLOW_WRITE_KEYS": WRITE_KEY,
            "WATCHFLOW_READ_TOKENS": "x=analyst",
            "WATCHFLOW_DATA_DIR": str(tmp),
            "WATCHFLOW_API_HOST": HOST,
            "WATCHFLOW_API_PORT": str(port),
            "WATCHFLOW_RATE_LIMIT_PER_S": "0",
            "WATCHFLOW_PARTITIONS": str(cfg.partitions),
        }
        report.progress(f"starting the API on {HOST}:{port} (broker {bootstrap})")
        with api_server(env, port, api_core, tmp / "api.log", api_module) as api:
            pids = {"api": api.pid, "broker": state.pid, "loadgen": os.getpid()}
            yield Stack(Bench(cfg, port, pids), bootstrap, api_core, load_core)
    finally:
        broker.down()
        shutil.rmtree(tmp, ignore_errors=True)


def run(cfg: Config) -> dict[str, Any]:
    """Start broker and API, measure, stop both (always); return every figure."""
    with stack(cfg) as running:
        found = measure(cfg, running.bench, running.bootstrap, running.api_core)
    found["placement"] = {"api_core": running.api_core, "load_core": running.load_core}
    return found


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench ingest", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 2 s per measurement, 1 run"
    )
    parser.add_argument("--seconds", type=float, help="seconds per measurement")
    parser.add_argument("--runs", type=int, help="runs per measurement (median reported)")
    parser.add_argument("--batches", help="comma-separated batch sizes (default 1,10,100)")
    parser.add_argument("--connections", type=int, help="closed-loop connections (default 32)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    if args.seconds:
        cfg = replace(cfg, seconds=args.seconds)
    if args.runs:
        cfg = replace(cfg, runs=args.runs)
    if args.batches:
        cfg = replace(cfg, batches=tuple(int(b) for b in args.batches.split(",")))
    if args.connections:
        cfg = replace(cfg, connections=args.connections)
    env = report.environment()
    try:
        found = run(cfg)
    except (BenchError, LocalKafkaError, loadgen.LoadError) as exc:
        print(f"bench ingest: {exc}", file=sys.stderr)
        return 1
    doc = report.document(cfg, env, found)
    print(report.table(doc))
    path = report.save(doc)
    print(f"\nall figures: {path}")
    if doc["failures"]:
        print("\nFAILED: not every request was acknowledged:", file=sys.stderr)
        for line in doc["failures"]:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0
