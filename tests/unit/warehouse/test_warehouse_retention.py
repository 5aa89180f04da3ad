"""The vectorised retention counts equal what video_retention_daily.sql defines, row for row."""

from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pytest

from warehouse import retention, rollups
from warehouse.retention import BUCKETS, daily_counts, totals
from warehouse.schema import VIDEO_RETENTION, VIDEO_RETENTION_DAILY

INTERVALS = pa.list_(pa.struct([("start_s", pa.float64()), ("end_s", pa.float64())]))


def _views(rng: random.Random, n: int) -> pa.Table:
    videos, durations, lists = [], [], []
    for _ in range(n):
        duration = rng.choice((7.0, 60.0, 333.3, 600.0, 3600.0))
        spans: list[dict[str, float]] | None = []
        assert spans is not None
        for _ in range(rng.choice((0, 1, 1, 2, 3, 5))):  # unsorted, overlapping, out of range
            a = rng.uniform(-5, duration * 1.1)
            spans.append(
                {"start_s": round(a, 3), "end_s": round(a + rng.uniform(0, duration / 2), 3)}
            )
        if rng.random() < 0.05:
            spans = None
        videos.append(f"v{rng.randrange(9)}")
        durations.append(duration)
        lists.append(spans)
    return pa.table(
        {
            "video_id": pa.array(videos),
            "duration_s": pa.array(durations, pa.float64()),
            "played_intervals": pa.array(lists, INTERVALS),
        }
    )


@pytest.mark.parametrize(("seed", "chunk"), [(1, 1 << 18), (2, 1 << 18), (3, 37), (4, 1)])
def test_numpy_counts_equal_the_sql(seed: int, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the chunks the views are counted in (a day's views go a chunk at a time)."""
    monkeypatch.setattr(retention, "_CHUNK", chunk)
    views = _views(random.Random(seed), 400)
    con = duckdb.connect()
    try:
        con.register("raw", views)
        con.execute(
            "CREATE TEMP VIEW views AS "
            "SELECT *, 'k' AS session_key, DATE '2024-03-01' AS day FROM raw"
        )
        con.execute("SET VARIABLE day = DATE '2024-03-01'")
        cols = VIDEO_RETENTION_DAILY.select_list()
        con.register("counts", daily_counts(views))
        diff = con.execute(
            f"SELECT count(*) FROM ((SELECT {cols} FROM ({rollups.sql('video_retention_daily')}) "
            f"EXCEPT ALL SELECT {cols} FROM counts) UNION ALL (SELECT {cols} FROM counts "
            f"EXCEPT ALL SELECT {cols} FROM ({rollups.sql('video_retention_daily')})))"
        ).fetchone()
        rows = con.execute("SELECT count(*), sum(list_sum(plays)) FROM counts").fetchone()
    finally:
        con.close()
    assert diff == (0,)
    assert rows is not None and rows[0] == 9 and rows[1] > 0


def test_no_views_no_rows() -> None:
    assert daily_counts(_views(random.Random(0), 0)).num_rows == 0


def _counts(rng: random.Random, videos: list[str]) -> pa.Table:
    rows = [(v, rng.randrange(1, 50)) for v in videos]
    return pa.table(
        {
            "video_id": pa.array([v for v, _ in rows]),
            "views": pa.array([n for _, n in rows], pa.int64()),
            "covered_views": pa.array(
                [[rng.randrange(n + 1) for _ in range(BUCKETS)] for _, n in rows],
                pa.list_(pa.int64()),
            ),
            "plays": pa.array(
                [[rng.randrange(3 * n) for _ in range(BUCKETS)] for _, n in rows],
                pa.list_(pa.int64()),
            ),
        }
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_numpy_totals_equal_the_sql(seed: int) -> None:
    """Totals = previous + added - removed per video, as video_retention.sql defines; a video
    whose views all go (its only day removed, nothing added) leaves the table."""
    rng = random.Random(seed)
    videos = [f"v{i}" for i in range(30)]
    previous = _counts(rng, videos[:20])
    removed = previous.slice(0, 8)  # those days are recomputed: their old counts come off
    added = _counts(rng, [*videos[2:8], *videos[20:], *videos[22:25]])  # v0, v1 not re-added
    con = duckdb.connect()
    try:
        for name, t in (("previous", previous), ("removed", removed), ("added", added)):
            con.register(name, t)
        con.execute("CREATE TEMP TABLE scope AS SELECT DISTINCT video_id FROM removed")
        con.execute("INSERT INTO scope SELECT DISTINCT video_id FROM added")
        # the rollup binds previous to the videos in scope (the rest keep their stored rows)
        in_scope = con.sql(
            "SELECT * FROM previous WHERE video_id IN (SELECT video_id FROM scope)"
        ).to_arrow_table()
        con.register("numpy_totals", totals(in_scope, removed, added))
        cols = VIDEO_RETENTION.select_list()
        q = f"SELECT {cols} FROM ({rollups.sql('video_retention')})"
        diff = con.execute(
            f"SELECT count(*) FROM (({q} EXCEPT ALL SELECT {cols} FROM numpy_totals) "
            f"UNION ALL (SELECT {cols} FROM numpy_totals EXCEPT ALL {q}))"
        ).fetchone()
        ids = {r[0] for r in con.execute("SELECT video_id FROM numpy_totals").fetchall()}
    finally:
        con.close()
    assert diff == (0,)
    # in scope: every video removed or added; v0 and v1 lost all their views
    assert ids == set(videos[2:8]) | set(videos[20:])


def test_totals_of_nothing_are_empty() -> None:
    empty = _counts(random.Random(0), [])
    assert totals(empty, empty, empty).num_rows == 0
