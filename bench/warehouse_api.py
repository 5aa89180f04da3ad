"""The analytics API under an open-loop client: the real ``watchflow api`` over a warehouse.

Requests are due at a constant rate whatever the answers do (no coordinated omission);
latency counts from when each was due to the last byte of its answer. Paths round-robin over
SPEC §6's analytics routes with ids that exist in the warehouse (read from its rollups).
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.processes import pinned, python_module, stop, wait_ready
from watchflow.local_kafka import free_port

TOKEN = "bench-analyst"
HOST = "127.0.0.1"


def paths(data_dir: Path, n: int = 200) -> list[tuple[str, str]]:
    """(route name, path) pairs over ids present in the warehouse, in a fixed shuffled order."""
    from warehouse.queries import Reader

    r = Reader(data_dir, index_bytes=0)  # a few SQL queries: no read index in the client
    users = [x["user_id"] for x in r.rows(f"SELECT user_id FROM ({r.relation('user_daily')}) "
                                           f"ORDER BY hash(user_id) LIMIT {n}")]  # fmt: skip
    vids = r.rows(f"SELECT video_id, day FROM ({r.relation('video_daily')}) "
                  f"ORDER BY hash(video_id) LIMIT {n}")  # fmt: skip
    creators = [x["creator_id"] for x in r.rows(
        f"SELECT DISTINCT creator_id FROM ({r.relation('catalog')}) LIMIT {n}")]  # fmt: skip
    day = vids[0]["day"]
    rng = f"from={day.replace(day=1) if hasattr(day, 'replace') else day}&to={day}"
    out: list[tuple[str, str]] = []
    for i in range(n):
        u, c = users[i % len(users)], creators[i % len(creators)]
        v = vids[i % len(vids)]["video_id"]
        out += [
            ("user daily", f"/v1/users/{u}/analytics/daily?{rng}"),
            ("user weekly", f"/v1/users/{u}/analytics/weekly?{rng}"),
            ("user monthly", f"/v1/users/{u}/analytics/monthly?{rng}"),
            ("user dashboard", f"/v1/users/{u}/analytics/dashboard"),
            ("video analytics", f"/v1/videos/{v}/analytics?{rng}"),
            ("video retention", f"/v1/videos/{v}/retention"),
            ("creator dashboard", f"/v1/creators/{c}/dashboard?{rng}"),
            ("top videos", f"/v1/videos/top?{rng}"),
            ("active users", f"/v1/users?{rng}"),
        ]
    random.Random(1).shuffle(out)
    return out


def _q(xs: list[float], f: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(f * len(xs)))] if xs else 0.0


async def open_loop(base: str, todo: list[tuple[str, str]], rate: float, seconds: float,
                    warmup_s: float = 3.0) -> dict[str, Any]:  # fmt: skip
    headers = {"Authorization": f"Bearer {TOKEN}"}
    lat: dict[str, list[float]] = {}
    errors: list[str] = []
    async with aiohttp.ClientSession(
        base, headers=headers, connector=aiohttp.TCPConnector(limit=64)
    ) as http:

        async def one(name: str, path: str, due: float, record: bool) -> None:
            async with http.get(path) as r:
                await r.read()
                if r.status != 200:
                    errors.append(f"{r.status} {path}")
            if record:
                lat.setdefault(name, []).append((time.perf_counter() - due) * 1000)

        # Service time first: one request at a time, 5 per route (ids not used below).
        service: dict[str, list[float]] = {}
        for name, path in todo[-45:]:
            t = time.perf_counter()
            async with http.get(path) as r:
                await r.read()
            service.setdefault(name, []).append((time.perf_counter() - t) * 1000)
        tasks = []
        total = int((warmup_s + seconds) * rate)
        t0 = time.perf_counter()
        for i in range(total):
            due = t0 + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            name, path = todo[i % (len(todo) - 45)]
            tasks.append(asyncio.create_task(one(name, path, due, i >= warmup_s * rate)))
        await asyncio.gather(*tasks)
    every = [x for xs in lat.values() for x in xs]
    return {
        "rate": rate,
        "seconds": seconds,
        "requests": len(every),
        "errors": len(errors),
        "first_errors": errors[:5],
        "p50_ms": _q(every, 0.5),
        "p99_ms": _q(every, 0.99),
        "max_ms": max(every, default=0.0),
        "paths": {
            k: {
                "n": len(v),
                "p50_ms": _q(v, 0.5),
                "p99_ms": _q(v, 0.99),
                "service_p50_ms": _q(service.get(k, []), 0.5),
            }
            for k, v in sorted(lat.items())
        },
        "service_p50_ms": _q([x for xs in service.values() for x in xs], 0.5),
    }


async def measure_api(
    data_dir: Path, core: int | None, rate: float, seconds: float, tmp: Path
) -> dict[str, Any]:
    port = free_port(HOST)
    env = {
        "WATCHFLOW_DATA_DIR": str(data_dir),
        "WATCHFLOW_API_HOST": HOST,
        "WATCHFLOW_API_PORT": str(port),
        "WATCHFLOW_READ_TOKENS": f"{TOKEN}=analyst",
        "WATCHFLOW_WRITE_KEYS": "wk_unused",
        # No broker: the analytics routes read the warehouse only (/readyz stays 503).
        "WATCHFLOW_KAFKA_BOOTSTRAP": f"{HOST}:{free_port(HOST)}",
        "WATCHFLOW_RATE_LIMIT_PER_S": "0",
    }
    todo = paths(data_dir)
    log = tmp / "api.log"
    with log.open("wb") as f:
        proc = subprocess.Popen(  # noqa: ASYNC220 (started once, before the clock runs)
            pinned(python_module("watchflow.cli", "api"), core),
            env={**os.environ, **env},
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://{HOST}:{port}/healthz", proc, log)
        out = await open_loop(f"http://{HOST}:{port}", todo, rate, seconds)
    finally:
        stop(proc)
    out["kafka"] = "none (analytics routes do not use it)"
    out["placement"] = {"api": core, "client": sorted(os.sched_getaffinity(0))}
    return out


def main(argv: list[str]) -> int:
    """``python -m bench.warehouse_api DATA_DIR [RATE] [SECONDS]``: only the API part of
    ``python -m bench warehouse``, over an existing warehouse (e.g. a generated day under
    bench/results/cache/); prints the result as JSON."""
    import json
    import sys
    import tempfile

    from bench.processes import pin_self, placement

    if not argv:
        print(main.__doc__, file=sys.stderr)
        return 2
    rate = float(argv[1]) if len(argv) > 1 else 50.0
    seconds = float(argv[2]) if len(argv) > 2 else 30.0
    cores = placement()
    api_core, client_core = cores if cores else (None, None)
    if client_core is not None:
        pin_self(client_core)
    with tempfile.TemporaryDirectory() as tmp:
        out = asyncio.run(measure_api(Path(argv[0]), api_core, rate, seconds, Path(tmp)))
    out["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
