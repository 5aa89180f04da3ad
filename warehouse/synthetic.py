"""Synthetic tier-1 data at scale, written straight to Parquet, for measuring the rollup.

``python -m warehouse.synthetic --data-dir /tmp/wh --sessions 200000 --events-per-session 50``
generates one UTC day (sessions, their events, milestones, some preferences, a catalog), marks
it dirty like the sink would, runs the rollup and prints the timings. Deterministic: every value
is a hash of the row number, so runs and thread counts agree.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from warehouse import rollups
from warehouse.manifest import UNPARTITIONED, DataFile, DirtyKind, Manifest
from warehouse.schema import CATALOG, EVENTS, MILESTONES, SESSIONS, Table
from warehouse.store import Store, WarehouseConfig

ZONES = "['UTC', 'America/New_York', 'America/Los_Angeles', 'Europe/Paris', 'Asia/Tokyo', " \
    "'Asia/Kolkata', 'Australia/Sydney']"  # fmt: skip


@dataclass(frozen=True, slots=True)
class Shape:
    day: date = date(2024, 3, 1)
    sessions: int = 20_000
    events_per_session: int = 50
    users: int = 2_000_000
    videos: int = 50_000
    creators: int = 1_000


def _sessions_sql(s: Shape, lo: int = 0, hi: int | None = None) -> str:
    hi = s.sessions if hi is None else hi
    return f"""
    WITH base AS (
        SELECT
            i + {s.day.toordinal()}::BIGINT * 100000000 AS i,
            'u' || (hash(i, 'user') % {s.users}) AS user_id,
            'v' || floor({s.videos} * pow(r(i, 'video'), 3))::BIGINT AS video_id,
            TIMESTAMPTZ '{s.day} 00:00:00+00' + to_seconds(floor(r(i, 'at') * 79200)::BIGINT)
                AS started_at,
            300 + floor(r(i, 'dur') * 3300) AS duration_s,
            r(i, 'frac') AS frac,
            r(i, 'exit') < 0.03 AS exited
        FROM range({lo}, {hi}) t(i)
    )
    SELECT
        user_id || '|S' || i AS session_key, user_id, 'S' || i AS session_id, video_id,
        'd' || (hash(i, 'dev') % 3) AS device_id, started_at,
        started_at + to_seconds({s.events_per_session * 10}) AS ended_at, 'stop' AS end_reason,
        CASE WHEN exited THEN 0 ELSE duration_s * frac * 1.05 END AS watch_time_s,
        CASE WHEN exited THEN 0 ELSE duration_s * frac END AS played_s,
        0.0 AS position_start_s, duration_s * frac AS position_end_s,
        0.0 AS coverage_start, frac AS coverage_end, duration_s,
        'desktop' AS device_type, 'direct_link' AS referrer,
        {ZONES}[1 + (hash(user_id) % 7)::INT] AS tz,
        CASE WHEN exited THEN NULL ELSE 0.2 + 3 * r(i, 'startup') END AS startup_time_s,
        CASE WHEN exited THEN 0 ELSE 5 * r(i, 'rebuffer') END AS rebuffer_time_s,
        (r(i, 'err') < 0.01)::INT AS errors,
        CASE WHEN exited THEN []
             WHEN frac < 0.5 THEN [{{'start_s': 0.0, 'end_s': duration_s * frac}}]
             ELSE [{{'start_s': 0.0, 'end_s': duration_s * frac * 0.5}},
                   {{'start_s': duration_s * frac * 0.6, 'end_s': duration_s * frac}}]
        END AS played_intervals,
        0 AS cycle, NOT exited AND frac >= 0.9 AS completed
    FROM base
    """


def _events_sql(s: Shape, lo: int, hi: int, prefs: bool) -> str:
    k = s.events_per_session
    pref_rows = f"""
    UNION ALL
    SELECT 'pref-{s.day}-' || u AS event_id, 'set_preferences' AS type,
        TIMESTAMPTZ '{s.day} 00:00:01+00' AS ts, 'u' || u AS user_id, 'd0' AS device_id,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM range(0, {s.users}, 100) t(u)
    """
    return f"""
    SELECT
        s.session_key || '#' || e.seq AS event_id,
        CASE e.seq WHEN 0 THEN 'start' WHEN 1 THEN 'play' ELSE 'heartbeat' END AS type,
        s.started_at + to_seconds(10 * e.seq) AS ts, s.user_id, s.device_id, s.video_id,
        s.session_id, e.seq, 10.0 * e.seq AS position_s, s.duration_s, 1.0 AS playback_rate,
        s.device_type, s.referrer, s.tz
    FROM ({_sessions_sql(s, lo, hi)}) s CROSS JOIN range({k}) e(seq)
    {pref_rows if prefs else ""}
    """


def _milestones_sql(s: Shape) -> str:
    return f"""
    SELECT user_id || '|' || video_id || '|0|' || m AS milestone_id, m AS milestone, user_id,
        video_id, 0 AS cycle, started_at + to_seconds(60) AS ts, device_id, session_id,
        coverage_end AS coverage, position_end_s AS position_s, watch_time_s,
        'S-' || session_key AS source_event_id
    FROM ({_sessions_sql(s)}), (SELECT unnest(['started', 'completed']) AS m)
    WHERE played_s > 0 AND (m = 'started' OR completed)
    QUALIFY row_number() OVER (PARTITION BY milestone_id ORDER BY ts) = 1
    """


def _catalog_sql(s: Shape) -> str:
    return f"""
    SELECT 'v' || i AS video_id, 'Video ' || i AS title, 'upload' AS source_type,
        'c' || (i % {s.creators}) AS creator_id, 'ch' || (i % 300) AS channel,
        CASE WHEN i < {s.videos // 100} THEN 'k' || (i // 20) END AS course_id,
        CASE WHEN i < {s.videos // 100} THEN 'm' || (i // 5) END AS module_id,
        CASE WHEN i < {s.videos // 100} THEN i % 20 END AS lesson_order,
        3600.0 AS duration_s,
        CASE WHEN i % 10 = 0 THEN [
            {{'title': 'one', 'start_s': 0.0, 'end_s': 600.0}},
            {{'title': 'two', 'start_s': 600.0, 'end_s': 1800.0}},
            {{'title': 'three', 'start_s': 1800.0, 'end_s': 3600.0}}] ELSE [] END AS chapters,
        'catalog' AS origin
    FROM range({s.videos}) t(i)
    """


def generate(store: Store, shape: Shape) -> Manifest:
    """Write one synthetic day to tier 1 and commit it with its dirty marks."""
    key = shape.day.isoformat()
    con = store.connect()
    try:
        con.execute("CREATE MACRO r(i, salt) AS (hash(i, salt) % 1000003)::DOUBLE / 1000003")
        files: dict[str, list[DataFile]] = {}

        def write(table: Table, select: str) -> None:
            cols = ", ".join(f'NULL AS "{c}"' for c in table.column_names)
            full = f"SELECT * FROM (SELECT {cols} LIMIT 0) UNION ALL BY NAME ({select})"
            f = store.write_query(con, full, table, key)
            if f:
                files.setdefault(table.name, []).append(f)

        write(SESSIONS, _sessions_sql(shape))
        write(MILESTONES, _milestones_sql(shape))
        # events in files of at most ~10M rows, as the sink would leave them after compaction
        step = max(1, 10_000_000 // max(1, shape.events_per_session))
        for lo in range(0, shape.sessions, step):
            write(EVENTS, _events_sql(shape, lo, min(shape.sessions, lo + step), prefs=lo == 0))
        cols = ", ".join(f'NULL AS "{c}"' for c in CATALOG.column_names)
        catalog = store.write_query(
            con,
            f"SELECT * FROM (SELECT {cols} LIMIT 0) UNION ALL BY NAME ({_catalog_sql(shape)})",
            CATALOG,
            UNPARTITIONED,
        )
    finally:
        con.close()

    def apply(m: Manifest) -> None:
        for name, fs in files.items():
            for f in fs:
                m.add_file(name, key, f)
        if catalog:
            m.set_partition(CATALOG.name, UNPARTITIONED, [catalog])
        for kind in (
            DirtyKind.SESSIONS,
            DirtyKind.VIEW_EVENTS,
            DirtyKind.PREFS,
            DirtyKind.MILESTONES,
        ):
            m.mark(kind, key)
        m.mark(DirtyKind.CATALOG, UNPARTITIONED)

    _, m = store.commit(apply)
    return m


def main() -> None:  # pragma: no cover - a measuring tool
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--events-per-session", type=int, default=50)
    ap.add_argument("--users", type=int, default=2_000_000)
    ap.add_argument("--videos", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--memory-limit", default=None)
    args = ap.parse_args()
    store = Store.open(
        args.data_dir, WarehouseConfig(threads=args.threads, memory_limit=args.memory_limit)
    )
    shape = Shape(
        sessions=args.sessions,
        events_per_session=args.events_per_session,
        users=args.users,
        videos=args.videos,
    )
    t0 = time.perf_counter()
    m = generate(store, shape)
    gen = time.perf_counter() - t0
    rows = {t: sum(f.rows for f in m.files(t)) for t in ("events", "sessions", "milestones")}
    print(f"generated {rows} in {gen:.1f} s")
    t0 = time.perf_counter()
    report = rollups.run(store)
    total = time.perf_counter() - t0
    steps = ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(report.seconds.items(), key=lambda kv: -kv[1])
    )
    print(f"rollup {total:.2f} s: {steps}")


if __name__ == "__main__":  # pragma: no cover
    main()
