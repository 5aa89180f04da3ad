"""The read index answers every summary read exactly as the SQL over the Parquet files does.

Two readers over the sample warehouse: one without an index (every query is SQL), one whose
index has loaded the snapshot. Answers are compared with ``==`` and by ``repr`` (same types,
same floats to the last bit, same key order), for every id and several ranges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from ingest_api.analytics import WarehouseAnalytics
from ingest_api.app import create_app
from tests.support.servers import serve
from warehouse import queries
from warehouse.reader import NeedsSql, memory_only

from .sample_warehouse import DAYS, NOW, USERS, VIDEOS, Sample, build
from .test_analytics_on_warehouse import services_for

pytestmark = pytest.mark.integration

RANGES = [
    (DAYS[0], DAYS[-1]),
    (DAYS[3], DAYS[3]),
    (DAYS[2], DAYS[6]),
    (DAYS[0] - timedelta(days=40), DAYS[0] + timedelta(days=1)),
    (date(2025, 1, 1), date(2025, 1, 31)),  # no data
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return build(tmp_path_factory.mktemp("warehouse"))


@pytest.fixture(scope="module")
def pair(sample: Sample) -> Iterator[tuple[WarehouseAnalytics, WarehouseAnalytics]]:
    sql = WarehouseAnalytics(sample.data_dir, cache_size=0, index_bytes=0)
    fast = WarehouseAnalytics(sample.data_dir, cache_size=0)
    sql.open()
    fast.open()  # returns once the index holds the snapshot
    yield sql, fast
    sql.close()
    fast.close()


def _same(call: Callable[[WarehouseAnalytics], Any], sql: Any, fast: Any) -> None:
    want, got = call(sql), call(fast)
    assert got == want
    assert repr(got) == repr(want)


def test_the_index_holds_every_table_the_reads_use(
    pair: tuple[WarehouseAnalytics, WarehouseAnalytics],
) -> None:
    sql, fast = pair
    view = fast.reader.snapshot().view
    for table in ("user_daily", "user_all_time", "video_daily", "video_viewers", "views",
                  "milestones", "video_retention", "catalog", "creator_daily",
                  "course_progress"):  # fmt: skip
        found = view.files(table)
        assert found, table  # loaded, and the sample has files of every one of them
    assert sql.reader.snapshot().view.files("user_daily") is None  # no index: SQL only


@pytest.mark.parametrize("user_id", [*USERS, "nobody"])
def test_user_reads_match(
    pair: tuple[WarehouseAnalytics, WarehouseAnalytics], user_id: str
) -> None:
    sql, fast = pair
    for start, end in RANGES:
        for period in ("daily", "weekly", "monthly"):
            _same(lambda a: a.user_periods(user_id, period, start, end), sql, fast)  # noqa: B023
    for days in (0, 3, 9, 30):
        now = NOW + timedelta(days=days, hours=days)
        _same(lambda a: a.user_dashboard(user_id, now), sql, fast)  # noqa: B023
        _same(lambda a: a.user_today(user_id, now), sql, fast)  # noqa: B023


@pytest.mark.parametrize("video_id", [*VIDEOS, "nope"])
def test_video_reads_match(
    pair: tuple[WarehouseAnalytics, WarehouseAnalytics], video_id: str
) -> None:
    sql, fast = pair
    for start, end in RANGES:
        _same(lambda a: a.video_analytics(video_id, start, end), sql, fast)  # noqa: B023
    _same(lambda a: a.video_retention(video_id), sql, fast)
    _same(lambda a: a.video_creator(video_id), sql, fast)


@pytest.mark.parametrize("creator_id", ["c1", "c2", "c3", "nobody"])
def test_creator_dashboards_match(
    pair: tuple[WarehouseAnalytics, WarehouseAnalytics], creator_id: str
) -> None:
    sql, fast = pair
    for start, end in RANGES:
        for top in (1, 10):
            _same(lambda a: a.creator_dashboard(creator_id, start, end, top), sql, fast)  # noqa: B023


def test_the_sample_has_what_the_comparison_needs(sample: Sample) -> None:
    """Guards the comparison against a sample too thin to tell the two apart."""
    reader = queries.Reader(sample.data_dir, index_bytes=0)
    dash = queries.creator_dashboard(reader, "c1", DAYS[0], DAYS[-1])
    assert dash["courses"] and len(dash["top_videos"]) == 2 and len(dash["daily"]) > 1
    got = queries.video_analytics(reader, "v1", DAYS[0], DAYS[-1])
    assert got["totals"]["startup_time_p95_s"] is not None and len(got["rows"]) > 1


def test_routes_answer_the_same_inline_from_the_index_and_from_sql_in_the_threadpool(
    sample: Sample,
) -> None:
    """Indexed reads run on the event loop; without an index every read raises NeedsSql there
    and is answered in the threadpool. Same bodies either way."""
    paths = [
        f"/v1/users/u2/analytics/daily?from={DAYS[0]}&to={DAYS[-1]}",
        "/v1/users/u1/analytics/weekly",
        "/v1/users/u3/analytics/dashboard",
        f"/v1/videos/v1/analytics?from={DAYS[0]}&to={DAYS[-1]}",
        "/v1/videos/v2/retention",
        f"/v1/creators/c1/dashboard?from={DAYS[0]}&to={DAYS[-1]}",
        f"/v1/videos/top?from={DAYS[0]}&to={DAYS[-1]}",
        f"/v1/users?from={DAYS[0]}&to={DAYS[-1]}",
    ]
    bodies = []
    for index_bytes in (0, 1 << 30):
        services = services_for(sample.data_dir)
        services.analytics = WarehouseAnalytics(sample.data_dir, index_bytes=index_bytes)
        with (
            serve(create_app(services)) as base,
            httpx.Client(base_url=base, headers={"Authorization": "Bearer root"}) as c,
        ):
            answers = [c.get(p) for p in paths]
        assert [a.status_code for a in answers] == [200] * len(paths)
        bodies.append([a.content for a in answers])
    assert bodies[0] == bodies[1]


def test_memory_only_reads_raise_needs_sql_unless_indexed_or_cached(sample: Sample) -> None:
    plain = queries.Reader(sample.data_dir, index_bytes=0)
    indexed = queries.Reader(sample.data_dir)
    assert indexed.wait_index(30)
    with memory_only():
        assert queries.video_retention(indexed, "v1")
        with pytest.raises(NeedsSql):
            queries.video_retention(plain, "v1")
    want = queries.video_retention(plain, "v1")  # now in plain's result cache
    with memory_only():
        assert queries.video_retention(plain, "v1") == want
    indexed.close()
