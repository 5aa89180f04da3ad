"""Where the ingest API's CPU goes, per event: ``python -m bench.ingest_profile [--batch 100]``.

Starts the same broker and API process as ``bench.ingest`` (pinned the same way), but runs the
API under cProfile (``bench.profiled_api``), drives it with the closed loop for
``--seconds`` after a warm-up, and prints the time per event by area (parsing, validation,
serialisation, publishing, framework, event loop) and the functions that cost the most. The
API's CPU time comes from /proc; what cProfile cannot see (uvloop's C code) is that minus the
Python time. cProfile adds ~0.2-0.5 µs to every Python call it records, so call-heavy areas
look a little dearer than they are: compare shares, and take absolute figures from
``python -m bench ingest``.
"""

from __future__ import annotations

import argparse
import os
import pstats
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

from bench import report
from bench.ingest import QUICK, Config, stack

# First match wins: (area, substrings of "file:function" for pstats entries).
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("JSON parse of the body (pydantic_core.from_json)", ("from_json",)),
    ("orjson.dumps of each record", ("orjson.dumps",)),
    (
        "validation (batches.py, contract.py, pydantic)",
        (
            "ingest_api/batches.py",
            "ingest_api/contract.py",
            "validate_python",
            "pydantic/",
            "zoneinfo",
            "_pydantic_core",
        ),
    ),
    ("publisher._enqueue + murmur2", ("ingest_api/publisher.py", "partitioner.py")),
    ("aiokafka producer/sender/protocol", ("aiokafka/", "kafka/")),
    ("metrics (prometheus_client)", ("prometheus_client/", "ingest_api/metrics.py")),
    ("route, auth, middleware (rest of ingest_api)", ("ingest_api/",)),
    ("FastAPI + Starlette (routing, deps, Request, Response)", ("fastapi/", "starlette/")),
    ("uvicorn + httptools", ("uvicorn/", "httptools")),
    ("asyncio (tasks, futures, wait_for, gather)", ("asyncio/", "_asyncio")),
)
# uvloop's C loop runs inside this frame: its own time is C work (sockets, callbacks) + idle.
LOOP_FRAME = "runners.py:run"


def area_of(key: tuple[str, int, str]) -> str:
    text = f"{key[0]}:{key[2]}"
    if LOOP_FRAME in text:
        return "uvloop C code + idle"
    for area, needles in AREAS:
        if any(n in text for n in needles):
            return area
    return "other"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_profile", description=__doc__)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    cfg = replace(QUICK if args.seconds < 5 else Config(), connections=args.connections)
    report.RESULTS.mkdir(exist_ok=True)
    out = report.RESULTS / f"ingest-profile-b{args.batch}-{time.strftime('%Y%m%d-%H%M%S')}.prof"
    with stack(cfg, ("bench.profiled_api", str(out))) as running:
        bench = running.bench
        bench.load(args.batch, 2.0, args.connections)
        before = bench.stream.position
        os.kill(bench.pids["api"], signal.SIGUSR1)
        r = bench.load(args.batch, args.seconds, args.connections)
        events = bench.stream.position - before
    stats = pstats.Stats(str(out))
    raw = stats.stats  # type: ignore[attr-defined]
    areas: dict[str, float] = {}
    for key, value in raw.items():  # value[2]: tottime, the function's own time
        areas[area_of(key)] = areas.get(area_of(key), 0.0) + value[2]
    python = sum(t for a, t in areas.items() if a != "uvloop C code + idle")
    cpu = r["cpu"]["api"] * args.seconds  # from /proc: the API's real CPU time
    areas["uvloop C code + idle"] = max(0.0, cpu - python)  # idle excluded
    us = 1e6 / events
    print(
        f"batch {args.batch}: {events:,} events in {args.seconds:g} s "
        f"({r['events_s']:,.0f} ev/s under the profiler, {r['failures']} not acknowledged); "
        f"API CPU {cpu:.2f} s (/proc) = {cpu * us:.1f} µs/event, of which Python code "
        f"{python * us:.1f} µs/event (cProfile, wall clock)\n"
    )
    print(f"{'area':<58} {'µs/event':>9} {'share':>6}")
    for area, t in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"{area:<58} {t * us:>9.2f} {t / max(cpu, python):>6.1%}")
    print(f"\ntop {args.top} functions by own CPU time (µs per event; calls per event)")
    top = sorted(
        ((k, v) for k, v in raw.items() if LOOP_FRAME not in f"{k[0]}:{k[2]}"),
        key=lambda kv: -kv[1][2],
    )[: args.top]
    for (path, line, func), (_, calls, tottime, cumtime, _) in top:
        where = f"{path.split('site-packages/')[-1].split('/work/main/')[-1]}:{line}({func})"
        print(f"{tottime * us:>7.2f} own {cumtime * us:>7.2f} cum {calls / events:>6.2f}×  {where}")
    print(f"\nprofile: {out} (python -m pstats {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
