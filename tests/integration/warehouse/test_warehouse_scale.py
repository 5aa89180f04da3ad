"""A few days of synthetic traffic through the real rollup and the real read path.

Slower than the unit tests (tens of seconds): run with ``-m integration``.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from warehouse import queries, rollups, views
from warehouse.store import Store, WarehouseConfig
from warehouse.synthetic import Shape, generate

pytestmark = pytest.mark.integration

DAYS = [date(2024, 3, 1) + timedelta(days=i) for i in range(3)]
NOW = datetime(2024, 3, 3, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store.open(tmp_path_factory.mktemp("wh"), WarehouseConfig(threads=2))
    for day in DAYS:
        generate(store, Shape(day=day, sessions=20_000, events_per_session=20, users=50_000,
                              videos=5_000))  # fmt: skip
    rollups.run(store)
    return store


def _q(store: Store, sql: str) -> list[tuple[object, ...]]:
    con = views.connect(store.root.parent)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_tables_agree_with_each_other(store: Store):
    (row,) = _q(
        store,
        """
        SELECT
            (SELECT sum(views) FROM video_daily), (SELECT count(*) FROM views),
            (SELECT sum(views) FROM creator_daily),
            (SELECT sum(views) FROM video_retention WHERE bucket = 0),
            (SELECT count(*) FROM views WHERE duration_s > 0)
        """,
    )
    daily, facts, creators, retention, with_duration = row
    assert daily == facts == creators
    assert retention == with_duration
    (uniques,) = _q(store, "SELECT count(DISTINCT user_id) FROM video_viewers")
    (sum_daily,) = _q(store, "SELECT sum(unique_viewers) FROM video_daily")
    assert uniques[0] < sum_daily[0]  # users come back: daily uniques do not add up


def test_full_rebuild_matches_the_incremental_result(store: Store):
    def snapshot() -> dict[str, list[tuple[object, ...]]]:
        return {
            t: sorted(map(repr, _q(store, f"SELECT * FROM {t}")))  # type: ignore[arg-type]
            for t in ("video_daily", "user_daily", "user_weekly", "chapter_daily")
        }

    before = snapshot()
    rollups.run(store, full=True)
    assert snapshot() == before


@pytest.mark.parametrize("cache_size", [0, 4096])
def test_api_reads_are_fast(store: Store, cache_size: int):
    reader = queries.Reader(store.root.parent, cache_size=cache_size)
    video = str(_q(store, "SELECT video_id FROM video_daily ORDER BY views DESC LIMIT 1")[0][0])
    user = str(_q(store, "SELECT user_id FROM user_daily LIMIT 1")[0][0])
    calls = [
        lambda: queries.video_analytics(reader, video, DAYS[0], DAYS[-1]),
        lambda: queries.video_retention(reader, video),
        lambda: queries.user_periods(reader, user, "daily", DAYS[0], DAYS[-1]),
        lambda: queries.user_dashboard(reader, user, NOW),
        lambda: queries.creator_dashboard(reader, "c1", DAYS[0], DAYS[-1]),
    ]
    for call in calls:
        call()  # warm the metadata cache
    timings = []
    for _ in range(40):
        for call in calls:
            t0 = time.perf_counter()
            call()
            timings.append(time.perf_counter() - t0)
    timings.sort()
    p50, p99 = statistics.median(timings), timings[int(len(timings) * 0.99)]
    print(f"API reads, cache {cache_size}: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    assert p99 < 0.25  # generous: a shared 2-core box; the target is 15 ms at p99
