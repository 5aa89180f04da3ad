"""One engine's run of the comparable query, in its own process (so its peak RSS is its own).

The query: per video over one day's tier-1 events (Parquet), the start events (views), all
events, and the **exact** number of distinct users (SPEC §5 video_daily's unique viewers, taken
from raw events, so each engine does the same hashing of ~every row):

    SELECT video_id, count(*) FILTER (WHERE type = 'start') AS views, count(*) AS events,
           count(DISTINCT user_id) AS unique_viewers
    FROM events GROUP BY video_id

``python -m bench.warehouse_query duckdb|polars|pandas FILE_LIST THREADS`` prints one JSON
line: seconds (the query only: scan + aggregate), groups, a checksum of unique viewers, and
the process's peak RSS. ``... rollup|late WAREHOUSE_DIR THREADS`` times ``rollups.run`` (with
``full=True``), or writes ``LATE_EVENTS`` late events into the day with ``tier1.write_batch``
and times the incremental ``rollups.run`` that follows: ``late`` = heartbeats and starts of
sessions whose records have not arrived (they change no view), ``late-views`` = whole late
sessions with their session records (new views: every derived table of the day changes).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def duckdb_query(files: list[str], threads: int) -> tuple[int, int]:
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    rows = con.execute(
        "SELECT count(*), sum(u) FROM (SELECT video_id, count(*) FILTER (WHERE type = 'start') "
        "AS views, count(*) AS events, count(DISTINCT user_id) AS u FROM read_parquet(?) "
        "GROUP BY video_id)",
        [files],
    ).fetchone()
    assert rows is not None
    return int(rows[0]), int(rows[1])


def polars_query(files: list[str]) -> tuple[int, int]:
    import polars as pl

    out = (
        pl.scan_parquet(files)
        .group_by("video_id")
        .agg(
            (pl.col("type") == "start").sum().alias("views"),
            pl.len().alias("events"),
            pl.col("user_id").n_unique().alias("u"),
        )
        .collect()
    )
    return out.height, int(out["u"].sum())


def pandas_query(files: list[str]) -> tuple[int, int]:
    import pandas as pd  # type: ignore[import-untyped]

    df = pd.concat(
        [pd.read_parquet(f, columns=["video_id", "user_id", "type"]) for f in files],
        ignore_index=True,
    )
    df["start"] = df["type"] == "start"
    g = df.groupby("video_id", sort=False).agg(
        views=("start", "sum"), events=("type", "size"), u=("user_id", "nunique")
    )
    return len(g), int(g["u"].sum())


LATE_EVENTS = 10_000


def late_events(day: str, n: int) -> list[object]:
    """``n`` valid heartbeats (coherent per session) stamped on ``day``, arriving late."""
    from ingest_api.contract import EVENT

    out: list[object] = []
    for i in range(n):
        u, s, seq = i % 2_000, i // 20, i % 20
        doc = {
            "event_id": f"late-{i:07d}",
            "type": "heartbeat" if seq else "start",
            "ts": f"{day}T23:{(i // 600) % 60:02d}:{(i // 10) % 60:02d}.{i % 1000:03d}Z",
            "user_id": f"u{u}",
            "device_id": "d0",
            "video_id": f"v{s % 500}",
            "session_id": f"late-{s}",
            "seq": seq,
            "position_s": 10.0 * seq,
            "duration_s": 3600.0,
            "context": {"device_type": "desktop", "app_version": "5.12.3", "tz": "UTC"},
        }
        out.append(EVENT.validate_python(doc))
    return out


def late_views(day: str, n: int) -> tuple[list[object], list[object]]:
    """``n`` late events of ``n // 20`` whole sessions (one user each) that the day did not
    have, with the session records the worker emits when they close: new views, so every
    table derived from views changes."""
    from datetime import datetime, timedelta

    from ingest_api.contract import EVENT, SessionRecord

    events: list[object] = []
    sessions: list[object] = []
    for s in range(n // 20):
        user, video, sid = f"u{(s * 7919) % 2_000_000}", f"v{s % 5_000}", f"late-view-{s}"
        start = datetime.fromisoformat(f"{day}T22:00:00+00:00") + timedelta(seconds=7 * s)
        for seq in range(20):
            events.append(
                EVENT.validate_python(
                    {
                        "event_id": f"late-view-{s}-{seq}",
                        "type": "heartbeat" if seq else "start",
                        "ts": (start + timedelta(seconds=10 * seq)).isoformat(),
                        "user_id": user,
                        "device_id": "d0",
                        "video_id": video,
                        "session_id": sid,
                        "seq": seq,
                        "position_s": 10.0 * seq,
                        "duration_s": 3600.0,
                        "context": {"device_type": "desktop", "tz": "UTC"},
                    }
                )
            )
        # fmt: off
        record = SessionRecord(
            session_key=f"{user}|{sid}", user_id=user, session_id=sid, video_id=video,
            device_id="d0", started_at=start, ended_at=start + timedelta(seconds=190),
            end_reason="stop", watch_time_s=190.0, played_s=190.0, position_start_s=0.0,
            position_end_s=190.0, coverage_start=0.0, coverage_end=190.0 / 3600,
            duration_s=3600.0, device_type="desktop", tz="UTC", startup_time_s=0.5,
            played_intervals=[(0.0, 190.0)],
        )
        # fmt: on
        sessions.append(record)
    return events, sessions


def warehouse_step(mode: str, path: str, threads: int) -> dict[str, object]:
    from warehouse import rollups, tier1
    from warehouse.store import Store, WarehouseConfig

    store = Store.open(path, WarehouseConfig(threads=threads))
    out: dict[str, object] = {}
    if mode == "late":
        day = max(k for k in store.manifest().tables["events"] if k[:1].isdigit())
        evs = late_events(day, LATE_EVENTS)
        t0 = time.perf_counter()
        tier1.write_batch(store, events=evs)  # type: ignore[arg-type]
        out.update(day=day, late_events=len(evs), write_s=time.perf_counter() - t0)
    if mode == "late-views":
        day = max(k for k in store.manifest().tables["events"] if k[:1].isdigit())
        evs, sessions = late_views(day, LATE_EVENTS)
        t0 = time.perf_counter()
        tier1.write_batch(store, events=evs, sessions=sessions)  # type: ignore[arg-type]
        out.update(
            day=day, late_events=len(evs), late_sessions=len(sessions),
            write_s=time.perf_counter() - t0,
        )  # fmt: skip
    t0, c0 = time.perf_counter(), time.process_time()
    rep = rollups.run(store, full=mode == "rollup")
    out.update(
        seconds=time.perf_counter() - t0,
        cpu_seconds=time.process_time() - c0,
        steps={k: round(v, 3) for k, v in rep.seconds.items()},
        rewritten=rep.rewritten,
    )
    return out


def main(argv: Sequence[str]) -> int:
    engine, listing, threads = argv[0], argv[1], int(argv[2])
    if engine in ("rollup", "late", "late-views"):
        doc = warehouse_step(engine, listing, threads)
        doc["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(doc))
        return 0
    files = [line for line in Path(listing).read_text().splitlines() if line]
    if engine == "polars":
        os.environ.setdefault("POLARS_MAX_THREADS", str(threads))
    t0 = time.perf_counter()
    if engine == "duckdb":
        groups, check = duckdb_query(files, threads)
    elif engine == "polars":
        groups, check = polars_query(files)
    else:
        groups, check = pandas_query(files)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "groups": groups, "check": check, "peak_rss": rss}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
