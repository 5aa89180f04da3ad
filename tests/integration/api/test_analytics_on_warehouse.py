"""The analytics routes over real HTTP on a real warehouse (real tier-1 writer, real rollup).

Expected figures are computed from the sample's inputs, not from the SQL under test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from ingest_api.analytics import WarehouseAnalytics
from ingest_api.app import create_app
from ingest_api.credentials import Credentials, parse_read_tokens
from ingest_api.deps import Services
from ingest_api.rate_limit import RateLimiter
from ingest_api.settings import ApiSettings
from tests.integration.api.sample_warehouse import DAYS, NOW, STREAKER, Sample, View, build
from tests.support.servers import serve
from tests.unit.ingest_api.test_http import FakeLive, FakePublisher

pytestmark = pytest.mark.integration

TOKENS = "root=analyst,c1-token=creator:c1,u1-token=user:u1"
RANGE = f"from={DAYS[0]}&to={DAYS[-1]}"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return build(tmp_path_factory.mktemp("warehouse"))


def services_for(data_dir: Path) -> Services:
    return Services(
        settings=ApiSettings(data_dir=data_dir),
        credentials=Credentials(frozenset({"wk"}), parse_read_tokens(TOKENS)),
        publisher=FakePublisher(),
        limiter=RateLimiter(0, 0),
        catalog_limiter=RateLimiter(0, 0),
        live=FakeLive(),
        analytics=WarehouseAnalytics(data_dir),
        clock=lambda: NOW,
    )


@pytest.fixture(scope="module")
def client(sample: Sample) -> Iterator[httpx.Client]:
    with (
        serve(create_app(services_for(sample.data_dir))) as base,
        httpx.Client(base_url=base, headers={"Authorization": "Bearer root"}) as c,
    ):
        yield c


def test_video_analytics_rows_totals_and_funnel(client: httpx.Client, sample: Sample) -> None:
    body = client.get(f"/v1/videos/v1/analytics?{RANGE}").json()
    views = sample.of("v1")
    assert [r["day"] for r in body["rows"]] == sorted({v.day.isoformat() for v in views})
    assert sum(r["views"] for r in body["rows"]) == len(views)
    t = body["totals"]
    assert t["views"] == len(views)
    assert t["unique_viewers"] == len({v.user for v in views})  # exact, not a sum of days
    assert t["unique_viewers"] < sum(r["unique_viewers"] for r in body["rows"])
    assert t["watch_time_s"] == pytest.approx(sum(v.watch_s for v in views), abs=0.01)
    assert t["completions"] == sum(v.completed for v in views)
    assert t["startup_time_p50_s"] == pytest.approx(_median([v.startup_s for v in views]))
    assert 0 < t["rebuffer_ratio"] < 0.01
    assert {s["step"]: s["cycles"] for s in body["funnel"]} == dict(sample.funnel["v1"])
    assert [s["step"] for s in body["funnel"]] == [
        "started",
        "progress_25",
        "progress_50",
        "progress_75",
        "progress_90",
        "completed",
    ]


def test_a_video_without_data_is_200_with_empty_rows_and_zero_totals(client: httpx.Client) -> None:
    r = client.get(f"/v1/videos/nobody-watched/analytics?{RANGE}")
    assert r.status_code == 200
    body = r.json()
    assert body["rows"] == []
    assert (body["totals"]["views"], body["totals"]["unique_viewers"]) == (0, 0)
    assert {s["cycles"] for s in body["funnel"]} == {0}
    assert client.get("/v1/videos/nobody-watched/retention").json()["buckets"] == []


def test_retention_is_the_share_of_views_reaching_each_percent(
    client: httpx.Client, sample: Sample
) -> None:
    buckets = client.get("/v1/videos/v3/retention").json()["buckets"]
    assert [b["bucket"] for b in buckets] == list(range(100))
    views = sample.of("v3")
    for b in (0, 25, 50, 99):  # a bucket is sampled at its midpoint
        reached = sum(v.fraction >= (b + 0.5) / 100 for v in views)
        assert buckets[b]["share_of_views"] == pytest.approx(reached / len(views)), b


def test_user_periods_are_local_days_of_the_user(client: httpx.Client) -> None:
    daily = client.get(f"/v1/users/{STREAKER}/analytics/daily?{RANGE}").json()["rows"]
    assert [r["day"] for r in daily] == [d.isoformat() for d in DAYS]
    assert {r["tz"] for r in daily} == {"Europe/Paris"}
    assert all(r["goal_met"] for r in daily)
    weekly = client.get(f"/v1/users/{STREAKER}/analytics/weekly?{RANGE}").json()["rows"]
    assert [w["iso_week"] for w in weekly] == ["2024-W09", "2024-W10"]
    monthly = client.get(f"/v1/users/{STREAKER}/analytics/monthly?{RANGE}").json()["rows"]
    assert [m["month_label"] for m in monthly] == ["2024-03"]


def test_user_dashboard_has_the_streak_and_last_7_local_days(client: httpx.Client) -> None:
    r = client.get(
        f"/v1/users/{STREAKER}/analytics/dashboard", headers={"Authorization": "Bearer u1-token"}
    )
    dash = r.json()
    assert dash["today"] == "2024-03-10"
    assert [d["day"] for d in dash["last_7_days"]] == [
        (DAYS[-1] - timedelta(days=6 - i)).isoformat() for i in range(7)
    ]
    assert dash["all_time"]["current_streak_days"] == 10
    assert dash["all_time"]["longest_streak_days"] == 10


def test_a_creator_reads_its_videos_and_dashboard_by_the_catalog(
    client: httpx.Client, sample: Sample
) -> None:
    creator = {"Authorization": "Bearer c1-token"}
    assert client.get("/v1/videos/v1/analytics", headers=creator).status_code == 200
    assert client.get("/v1/videos/v2/retention", headers=creator).status_code == 200
    assert client.get("/v1/videos/v3/analytics", headers=creator).status_code == 403
    dash = client.get(f"/v1/creators/c1/dashboard?{RANGE}", headers=creator).json()
    mine = [v for v in sample.views if v.video in ("v1", "v2")]
    assert dash["totals"]["views"] == len(mine)
    assert dash["totals"]["unique_viewers"] == len({v.user for v in mine})
    assert [v["video_id"] for v in dash["top_videos"]] == _ranked(mine)
    assert dash["courses"][0]["course_id"] == "k1"


def test_top_videos_and_active_users_for_pickers(client: httpx.Client, sample: Sample) -> None:
    top = client.get(f"/v1/videos/top?{RANGE}&limit=3").json()["videos"]
    assert [v["video_id"] for v in top] == _ranked(sample.views)[:3]
    assert top[0]["title"] == "Stream processing 101"
    users = client.get(f"/v1/users?{RANGE}&limit=50").json()["users"]
    assert {u["user_id"] for u in users} == {v.user for v in sample.views}
    minutes = [u["watch_time_min"] for u in users]
    assert minutes == sorted(minutes, reverse=True)


def _ranked(views: list[View]) -> list[str]:
    """Video ids by views, then watch time, then id (the API's documented order)."""
    counts = Counter(v.video for v in views)
    watch: dict[str, float] = {}
    for v in views:
        watch[v.video] = watch.get(v.video, 0.0) + v.watch_s
    return sorted(counts, key=lambda vid: (-counts[vid], -watch[vid], vid))


def _median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
