"""The vectorised retention counts equal what video_retention_daily.sql defines, row for row."""

from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pytest

from warehouse import rollups
from warehouse.retention import daily_counts
from warehouse.schema import VIDEO_RETENTION_DAILY

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


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_numpy_counts_equal_the_sql(seed: int) -> None:
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
