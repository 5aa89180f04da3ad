"""GDPR erase-user: every trace of the user goes, everyone else stays."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse import rollups
from warehouse.erase import erase_user

from .wh_builders import Batch, at, milestone, prefs, video


def _data() -> Batch:
    b = Batch()
    b.catalog.append(video("v1", creator_id="c1", course_id="k1", channel="A"))
    b.events.append(prefs("gone", at("2024-02-20 00:00"), tz="Europe/Paris"))
    for day in ("2024-03-01", "2024-03-02"):
        b.view("gone", f"g{day}", at(f"{day} 10:00"), watch=600, intervals=[(0, 600)])
        b.view("stays", f"s{day}", at(f"{day} 11:00"), watch=300, intervals=[(0, 300)])
    b.milestones.append(milestone("gone", "v1", "completed", at("2024-03-01 10:10")))
    b.milestones.append(milestone("stays", "v1", "started", at("2024-03-01 11:00")))
    return b


def _rows_on_disk(root: Path, user: str) -> int:
    """Rows naming ``user`` in any Parquet file under the warehouse, committed or not."""
    con = duckdb.connect()
    found = 0
    for f in root.rglob("*.parquet"):
        cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM '{f}'").fetchall()}
        checks = [f"{c} = '{user}'" for c in ("user_id",) if c in cols]
        checks += [
            f"starts_with({c}, '{user}|')" for c in ("session_key", "milestone_id") if c in cols
        ]
        if checks:
            (n,) = con.execute(f"SELECT count(*) FROM '{f}' WHERE {' OR '.join(checks)}").fetchone()
            found += n
    return found


def test_erase_user_removes_every_trace_and_says_what(store, q):
    _data().write(store)
    rollups.run(store)
    assert q("SELECT views FROM video_daily ORDER BY day") == [{"views": 2}, {"views": 2}]

    report = erase_user(store, "gone")

    assert report.tier1_rows == {"events": 3, "sessions": 2, "milestones": 1}
    assert report.tier2_rows["views"] == 2
    assert report.tier2_rows["user_daily"] == 2
    assert report.tier2_rows["user_all_time"] == 1
    assert report.tier2_rows["course_progress"] == 1
    assert report.tier2_rows["user_prefs"] == 1
    assert "stays" not in str(report.as_dict())
    # aggregates no longer count the user
    assert q("SELECT views, unique_viewers, watch_time_s FROM video_daily ORDER BY day") == [
        {"views": 1, "unique_viewers": 1, "watch_time_s": 300.0},
        {"views": 1, "unique_viewers": 1, "watch_time_s": 300.0},
    ]
    (curve,) = q("SELECT views, covered_views FROM video_retention WHERE bucket = 70")
    assert curve == {"views": 2, "covered_views": 0}  # only the 300 s views remain
    # no table, and no file on disk, still holds the user
    assert _rows_on_disk(store.root, "gone") == 0
    assert q("SELECT count(*) AS n FROM user_daily WHERE user_id = 'stays'") == [{"n": 2}]
    assert _rows_on_disk(store.root, "stays") > 0


def test_erasing_an_unknown_user_removes_nothing(store):
    _data().write(store)
    rollups.run(store)
    report = erase_user(store, "nobody")
    assert report.tier1_rows == {} and report.tier2_rows == {}
