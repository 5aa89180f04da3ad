"""Analysts read (in other processes) while the sink and the rollup write."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from warehouse import rollups
from warehouse.store import Store

from .wh_builders import Batch, analyst, at

FIGURES = """
SELECT
    (SELECT count(*) FROM sessions) AS sessions,
    (SELECT coalesce(sum(views), 0) FROM video_daily) AS daily_views,
    (SELECT count(*) FROM views) AS view_rows,
    (SELECT coalesce(sum(sessions), 0) FROM user_daily) AS user_sessions,
    (SELECT count(*) FROM video_viewers) AS viewer_rows,
    (SELECT coalesce(max(views), 0) FROM video_retention) AS retention_views
"""

# An analyst: opens analytics.duckdb read-only and queries in a loop until told to stop,
# reconnecting for every query ("fresh") or keeping one connection open ("long").
ANALYST = r"""
import json, os, sys, time, duckdb
path, stop, mode, sql = sys.argv[1:5]
con = duckdb.connect(path, read_only=True) if mode == "long" else None
n = 0
while n < 5 or not os.path.exists(stop):
    c = con or duckdb.connect(path, read_only=True)
    try:
        print(json.dumps(list(c.execute(sql).fetchone())), flush=True)
    except Exception as exc:
        print(json.dumps({"error": repr(exc)}), flush=True)
    finally:
        if con is None:
            c.close()
    n += 1
    time.sleep(0.005)  # leave the writers some CPU
"""


def _round(k: int) -> Batch:
    b = Batch()
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        b.view(f"u{k}", f"s{k}-{day}", at(f"{day} 12:00"), watch=60, intervals=[(0, 60)])
    return b


def _figures(store: Store) -> tuple[int, ...]:
    (row,) = analyst(store, FIGURES)
    return tuple(int(v) for v in row.values())


def test_analysts_see_whole_snapshots_only_while_jobs_write(store, tmp_path: Path):
    _round(0).write(store)
    rollups.run(store)
    committed = {_figures(store)}
    stop = tmp_path / "stop"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ANALYST, str(store.views_path), str(stop), mode, FIGURES],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("fresh", "long")
    ]
    try:
        for p in procs:  # both are reading before the writers start
            assert p.stdout is not None
            first = p.stdout.readline()
            assert first.startswith("["), first + (p.stderr.read() if p.stderr else "")
        for k in range(1, 6):
            _round(k).write(store)  # the sink commits tier 1 ...
            committed.add(_figures(store))
            rollups.run(store)  # ... and the rollup rewrites every day's tier 2
            committed.add(_figures(store))
    finally:
        stop.touch()
        outputs = [p.communicate(timeout=60) for p in procs]

    fresh, long = ([json.loads(line) for line in out.splitlines()] for out, _ in outputs)
    errors = [r for r in fresh + long if isinstance(r, dict)]
    assert errors == []
    seen_fresh = {tuple(r) for r in fresh}
    assert seen_fresh <= committed  # every answer is some committed snapshot, never a mix
    assert len(seen_fresh) > 1  # and the reconnecting analyst did watch it change
    # a committed rollup is consistent across tables: views counted three ways agree
    for _, daily_views, view_rows, user_sessions, _, _ in seen_fresh:
        assert daily_views == view_rows == user_sessions
    # one long-lived connection keeps reading the snapshot it opened (repeatable reads)
    assert len({tuple(r) for r in long}) == 1
