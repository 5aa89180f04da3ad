"""What a benchmark run found, as a table for people and a JSON document for later comparison."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = (
    "aiokafka",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "pydantic-core",
    "orjson",
)


def progress(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def environment() -> dict[str, Any]:
    """The machine, versions and commit a result belongs to, and how busy the machine was."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip()

    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    from watchflow.local_kafka import KAFKA_VERSION

    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {p: metadata.version(p) for p in PACKAGES},
        "kafka": KAFKA_VERSION,
        "commit": git("rev-parse", "--short", "HEAD"),
        "ingest_api_changed": bool(git("status", "--porcelain", "--", "ingest_api")),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
    }


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _spread(rates: list[float]) -> dict[str, float]:
    return {"events_s": _median(rates), "min": min(rates), "max": max(rates)}


def document(cfg: Any, env: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, plus the summary the table shows."""
    env = {**env, "loadavg_after": Path("/proc/loadavg").read_text().split()[:3]}
    ceiling: dict[str, Any] = {}
    for variant, runs in found["ceiling"].items():
        ceiling[variant] = {
            **_spread([r["events_s"] for r in runs]),
            "cpu": _median([r["cpu"] for r in runs]),
            "waiting_for_cpu": _median([r["waiting"] for r in runs]),
            "per_core": _median([r["events_s"] / max(r["cpu"], 1e-9) for r in runs]),
            "runs": runs,
        }
    best = max(c["events_s"] for c in ceiling.values())
    best_per_core = max(c["per_core"] for c in ceiling.values())
    batches: dict[str, Any] = {}
    failures = [failure_line(o["batch"], o) for o in found["overloaded"]]
    for batch, runs in found["closed"].items():
        lat = found["latency"].get(batch)
        bad = [r for r in runs if r["failures"]] + ([lat] if lat and lat["failures"] else [])
        failures += [failure_line(batch, r) for r in bad]
        spread = _spread([r["events_s"] for r in runs])
        conns = sorted({r["connections"] for r in runs})
        per_core = _median([r["events_s"] / max(r["cpu"]["api"], 1e-9) for r in runs])
        batches[str(batch)] = {
            **spread,
            "failed": bool(bad),
            "connections": f"{conns[0]}" + (f"–{conns[-1]}" if len(conns) > 1 else ""),
            "req_s": _median([r["req_s"] for r in runs]),
            "cpu": {k: _median([r["cpu"][k] for r in runs]) for k in runs[0]["cpu"]},
            "waiting_for_cpu": {
                k: _median([r["waiting_for_cpu"][k] for r in runs]) for k in runs[0]["cpu"]
            },
            "per_api_core": per_core,
            "saturated_p50_ms": _median([r["p50_ms"] for r in runs]),
            "saturated_p99_ms": _median([r["p99_ms"] for r in runs]),
            "latency_at_load": lat,
            "vs_ceiling": spread["events_s"] / best,
            "per_core_vs_ceiling": per_core / best_per_core,
            "vs_target": per_core / cfg.target_per_core,
            "runs": runs,
        }
    return {
        "benchmark": "ingest",
        "config": dataclasses.asdict(cfg),
        "environment": env,
        "placement": found["placement"],
        "batches": batches,
        "ceiling": ceiling,
        "failures": failures,
        "overloaded": found["overloaded"],
    }


def failure_line(batch: int, r: dict[str, Any]) -> str:
    return (
        f"batch {batch} on {r['connections']} connections: {r['failures']} of "
        f"{r['failures'] + r['requests']} requests not acknowledged; first: {r['first_failure']}"
    )


def _k(x: float) -> str:
    return f"{x / 1000:,.1f}k"


def _ms(lat: dict[str, Any] | None, key: str) -> str:
    return f"{lat[key]:.1f} ms" if lat else "—"


def table(doc: dict[str, Any]) -> str:
    cfg = doc["config"]
    pct = round(cfg["latency_load"] * 100)
    head = (
        "batch",
        "conns",
        "events/s (min–max)",
        "req/s",
        "API cores (+waiting)",
        "ev/s per API core",
        f"p50 @{pct}%",
        f"p99 @{pct}%",
        "vs ceiling",
        "per core vs ceiling",
        f"per core vs {_k(cfg['target_per_core'])}",
    )
    rows: list[tuple[str, ...]] = []
    for batch, b in doc["batches"].items():
        lat = b["latency_at_load"]
        rows.append(
            (
                batch + (" FAILED" if b["failed"] else ""),
                b["connections"],
                f"{_k(b['events_s'])} ({_k(b['min'])}–{_k(b['max'])})",
                f"{b['req_s']:,.0f}",
                f"{b['cpu']['api']:.2f} (+{b['waiting_for_cpu']['api']:.2f})",
                _k(b["per_api_core"]),
                _ms(lat, "p50_ms"),
                _ms(lat, "p99_ms"),
                f"{b['vs_ceiling']:.2f}×",
                f"{b['per_core_vs_ceiling']:.2f}×",
                f"{b['vs_target']:.2f}×",
            )
        )
    best = max(c["events_s"] for c in doc["ceiling"].values())
    best_per_core = max(c["per_core"] for c in doc["ceiling"].values())
    for variant, c in doc["ceiling"].items():
        rows.append(
            (
                f"aiokafka {variant}",
                "",
                f"{_k(c['events_s'])} ({_k(c['min'])}–{_k(c['max'])})",
                "",
                f"{c['cpu']:.2f} (+{c['waiting_for_cpu']:.2f})",
                _k(c["per_core"]),
                "",
                "",
                f"{c['events_s'] / best:.2f}×",
                f"{c['per_core'] / best_per_core:.2f}×",
                f"{c['per_core'] / cfg['target_per_core']:.2f}×",
            )
        )
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in (head, *rows)]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines + _notes(doc))


def _notes(doc: dict[str, Any]) -> list[str]:
    cfg, place, env = doc["config"], doc["placement"], doc["environment"]
    pct = round(cfg["latency_load"] * 100)
    dirty = " + uncommitted ingest_api changes" if env["ingest_api_changed"] else ""
    shared = ", ".join(
        f"batch {b}: broker {v['cpu']['broker']:.2f} + load generator {v['cpu']['loadgen']:.2f}"
        for b, v in doc["batches"].items()
    )
    return [
        "",
        f"events/s: median of {cfg['runs']} closed-loop runs of {cfg['seconds']:g} s on 'conns' "
        "keep-alive connections; every request acknowledged after Kafka acks=all. A run with "
        f"unacknowledged requests is repeated on half the connections (from {cfg['connections']}"
        "), and listed as FAILED below.",
        f"p50/p99: open loop at {pct}% of the median request rate on "
        f"{cfg['latency_connections']} connections, counted from when each request was due.",
        "API cores: CPU time of the API process ÷ wall time (/proc utime+stime); +waiting: "
        "time it was runnable but another process held the core (/proc schedstat), i.e. noise.",
        "ev/s per API core = events/s ÷ API cores. Ceiling: a bare aiokafka producer sending "
        "the same events to the same broker and topic from the API's core (chunks of 1000, "
        "2 in flight); 'vs ceiling' compares events/s, 'per core vs ceiling' events per "
        "CPU-second.",
        f"placement: core {place['api_core']} = the API (the ceiling's producer in its turn); "
        f"core {place['load_core']} = load generator AND Kafka broker, shared: {shared} cores.",
        f"machine: {env['cores']} × {env['cpu']}, shared with other work; load average "
        f"{' '.join(env['loadavg_before'])} before, {' '.join(env['loadavg_after'])} after. "
        f"Commit {env['commit']}{dirty}.",
        *(f"FAILED: {line}" for line in doc["failures"]),
    ]


def save(doc: dict[str, Any], name: str = "ingest") -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(doc, indent=2))
    return path
