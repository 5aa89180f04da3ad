"""``python -m bench warehouse``: the exact rollup of a generated day, DuckDB vs Polars vs pandas,
the re-roll after 10k late events, and the analytics API's p99 at 50 req/s.

1. Days of ``S`` events (``warehouse.synthetic``: 50 events per session, 2M users, 50k
   Zipf-popular videos) are generated once into ``bench/results/cache/warehouse-<S>`` and
   reused; each run works on a hard-linked copy (Parquet files are immutable; the manifest
   is replaced by rename), so the cache stays pristine.
2. Per size, in separate processes (peak RSS each; DuckDB and Polars on 2 threads):
   ``rollups.run(store, full=True)`` (every SPEC §5 rollup of the day, exact distincts), and
   the one comparable query (per video: views, events, **exact** unique viewers, over the
   day's raw events) in DuckDB, Polars (``scan_parquet``, ``n_unique``) and pandas
   (``read_parquet`` + ``groupby().nunique()``, only up to ``pandas_max`` events: 100M rows
   of three string columns would not fit beside everything else in memory, see the JSON).
3. ``tier1.write_batch`` of 10k late events into the day, then the incremental
   ``rollups.run`` (what the sink's next rollup does): the re-roll.
4. The real API (``watchflow api``, pinned to core 0, over the largest warehouse; no Kafka:
   the analytics routes do not need it) under an open-loop client at 50 req/s on core 1,
   round-robin over the SPEC §6 analytics paths; latency counts from when a request was due.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import report
from bench.processes import BenchError, pin_self, pinned, placement, python_module
from bench.warehouse_api import measure_api

CACHE = report.RESULTS / "cache"
EVENTS_PER_SESSION = 50


@dataclass(frozen=True)
class Config:
    sizes: tuple[int, ...] = (10_000_000, 100_000_000)
    runs: int = 3  # rollup runs; query runs per engine (interleaved) at sizes up to 10M, 1 above
    pandas_max: int = 10_000_000
    threads: int = 2
    api_rate: float = 50.0
    api_seconds: float = 30.0
    target_rollup_s: float = 15.0
    target_reroll_s: float = 1.0
    target_api_p99_ms: float = 15.0


QUICK = Config(sizes=(1_000_000, 10_000_000), runs=1, api_seconds=10.0)


def label(size: int) -> str:
    return f"{size // 1_000_000}M" if size % 1_000_000 == 0 else f"{size // 1000}k"


def cached(size: int) -> Path:
    """The generated warehouse of one ``size``-event day (generated on first use)."""
    from warehouse import synthetic
    from warehouse.store import Store, WarehouseConfig

    path = CACHE / f"warehouse-{label(size)}"
    if (path / ".complete").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    report.progress(f"generating a {label(size)}-event day into {path} (once)")
    store = Store.open(path, WarehouseConfig(threads=2))
    synthetic.generate(store, synthetic.Shape(sessions=size // EVENTS_PER_SESSION))
    (path / ".complete").write_text(str(size))
    return path


def work_copy(src: Path, dst: Path) -> Path:
    """Parquet files (immutable) hard-linked, everything else (manifest, views) copied."""

    def link_or_copy(a: str, b: str) -> None:
        if a.endswith(".parquet"):
            os.link(a, b)
        else:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link_or_copy)
    return dst


def step(mode: str, arg: str, threads: int, core: int | None = None) -> dict[str, Any]:
    command = pinned(python_module("bench.warehouse_query", mode, arg, str(threads)), core)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"{mode} failed:\n{done.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def event_files(path: Path) -> list[str]:
    from warehouse.store import Store

    m = Store.open(path).manifest()
    return Store.open(path).paths(m.files("events"))


def measure_size(cfg: Config, size: int, tmp: Path) -> dict[str, Any]:
    work = work_copy(cached(size), tmp / label(size))
    listing = tmp / f"{label(size)}.files"
    engines = ["duckdb", "polars"] + (["pandas"] if size <= cfg.pandas_max else [])
    runs = cfg.runs if size <= 10_000_000 else 1
    found: dict[str, Any] = {"events": size, "rollup": [], "query": {e: [] for e in engines}}
    # the rollup (the target) runs cfg.runs times at every size, the engines' query once above
    # 10M: on a shared box one run of ~15 s says little, the median of three more
    for i in range(max(runs, cfg.runs)):
        found["rollup"].append(step("rollup", str(work), cfg.threads))
        report.progress(f"{label(size)} rollup {i + 1}: {found['rollup'][-1]['seconds']:.2f} s")
        listing.write_text("\n".join(event_files(work)))  # the rollup may compact them
        if i >= runs:
            continue
        for e in engines:
            found["query"][e].append(step(e, str(listing), cfg.threads))
            report.progress(f"{label(size)} {e} {i + 1}: {found['query'][e][-1]['seconds']:.2f} s")
    found["late"] = step("late", str(work), cfg.threads)
    report.progress(f"{label(size)} late re-roll: {found['late']['seconds']:.2f} s")
    found["late_views"] = step("late-views", str(work), cfg.threads)
    report.progress(
        f"{label(size)} late re-roll, new views: {found['late_views']['seconds']:.2f} s"
    )
    if size > cfg.pandas_max:
        found["pandas_skipped"] = (
            f"{label(size)} events > pandas_max {label(cfg.pandas_max)}: pandas holds the three "
            "string columns in memory (1.2 GB peak RSS at 10M here); ten times that would not "
            "fit beside the other processes on this shared box"
        )
    found["work_dir"] = str(work)
    return found


def summarise(found: dict[str, Any]) -> dict[str, Any]:
    def med(xs: list[dict[str, Any]], k: str) -> float:
        return float(statistics.median(x[k] for x in xs))

    q = {e: {"seconds": med(r, "seconds"), "peak_rss": med(r, "peak_rss")}
         for e, r in found["query"].items()}  # fmt: skip
    return {
        "rollup_s": med(found["rollup"], "seconds"),
        "rollup_peak_rss": med(found["rollup"], "peak_rss"),
        "query": q,
        "reroll_s": found["late"]["seconds"],
        "reroll_views_s": found["late_views"]["seconds"],
    }


def run(cfg: Config) -> dict[str, Any]:
    cores = placement()
    api_core, client_core = cores if cores else (None, None)
    tmp = Path(tempfile.mkdtemp(prefix="watchflow-bench-wh-", dir=CACHE.parent))
    try:
        sizes = {label(s): measure_size(cfg, s, tmp) for s in cfg.sizes}
        if client_core is not None:
            pin_self(client_core)
        biggest = sizes[label(max(cfg.sizes))]
        api = asyncio.run(
            measure_api(Path(biggest["work_dir"]), api_core, cfg.api_rate, cfg.api_seconds, tmp)
        )
        return {"sizes": sizes, "api": api, "placement": {"api": api_core, "client": client_core}}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def table(doc: dict[str, Any]) -> str:
    cfg = doc["config"]
    head = (
        "events/day",
        "rollups.run full (exact)",
        "DuckDB query",
        "Polars query",
        "pandas query",
        "Polars/DuckDB",
        "pandas/DuckDB",
        "late re-roll (10k)",
        "late re-roll (10k, new views)",
        f"rollup vs {cfg['target_rollup_s']:g} s",
    )
    rows = []
    for name, found in doc["sizes"].items():
        s = found["summary"] = summarise(found)
        q = s["query"]

        def cell(e: str, q: dict[str, Any] = q) -> str:
            if e not in q:
                return "skipped"
            return f"{q[e]['seconds']:.2f} s [{q[e]['peak_rss'] / 2**30:.1f} GB]"

        def ratio(e: str, q: dict[str, Any] = q) -> str:
            return f"{q[e]['seconds'] / q['duckdb']['seconds']:.2f}×" if e in q else "—"

        rows.append(
            (
                name,
                f"{s['rollup_s']:.2f} s [{s['rollup_peak_rss'] / 2**30:.1f} GB]",
                cell("duckdb"),
                cell("polars"),
                cell("pandas"),
                ratio("polars"),
                ratio("pandas"),
                f"{s['reroll_s']:.2f} s",
                f"{s['reroll_views_s']:.2f} s",
                f"{s['rollup_s'] / cfg['target_rollup_s']:.2f}×",
            )
        )
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in (head, *rows)]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    api, env = doc["api"], doc["environment"]
    lines += [
        "",
        f"API @ {api['rate']:g} req/s open loop, {api['requests']} requests over "
        f"{api['seconds']:g} s on the {max(doc['sizes'], key=lambda k: doc['sizes'][k]['events'])}"
        f" warehouse: p50 {api['p50_ms']:.1f} ms, p99 {api['p99_ms']:.1f} ms, max "
        f"{api['max_ms']:.0f} ms (target p99 ≤ {cfg['target_api_p99_ms']:g} ms); non-200: "
        f"{api['errors']}. Per path p99: "
        + ", ".join(f"{k} {v['p99_ms']:.1f}" for k, v in api["paths"].items())
        + f". Service time, one request at a time (5 per route, median): "
        f"{api['service_p50_ms']:.1f} ms; per route: "
        + ", ".join(f"{k} {v['service_p50_ms']:.1f}" for k, v in api["paths"].items())
        + ".",
        "Seconds are medians of runs in separate processes; [peak RSS]. rollup = "
        "rollups.run(full=True): every SPEC §5 rollup of the day. The query is per video: "
        "views, events, exact distinct users over the day's raw events. Re-roll = the "
        "incremental rollups.run after tier1.write_batch of 10k late events into that day: "
        "heartbeats and starts of sessions whose records have not arrived (no view changes), "
        "and, 'new views', 500 whole late sessions with their session records.",
        *(f"pandas: {f['pandas_skipped']}" for f in doc["sizes"].values() if "pandas_skipped" in f),
        f"machine: {env['cores']} × {env['cpu']}, shared; load average "
        f"{' '.join(env['loadavg_before'])} before, {' '.join(env['loadavg_after'])} after. "
        f"Commit {env['commit']}.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench warehouse", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1M and 10M instead of 10M, 100M")
    parser.add_argument("--sizes", help="comma-separated event counts, e.g. 10000000")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
        cfg = Config(**{**asdict(cfg), "sizes": sizes})
    env = report.environment()
    try:
        found = run(cfg)
    except BenchError as exc:
        print(f"warehouse benchmark failed: {exc}")
        return 1
    env["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    doc = {"benchmark": "warehouse", "config": asdict(cfg), "environment": env, **found}
    print(table(doc))
    print(f"\nsaved {report.save(doc, 'warehouse')}")
    return 0
