"""Analytics reads over real HTTP with a hand-written warehouse: scoping, ranges, JSON, threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ingest_api.analytics import Analytics
from ingest_api.app import create_app
from ingest_api.credentials import Credentials, parse_read_tokens
from ingest_api.deps import Services
from ingest_api.rate_limit import RateLimiter
from ingest_api.settings import ApiSettings
from tests.support.servers import serve
from tests.unit.ingest_api.test_http import FakeLive, FakePublisher

TOKENS = "alice-token=user:alice,studio-token=creator:studio,root-token=analyst"
NOW = datetime(2024, 3, 10, 23, 30, tzinfo=UTC)  # already 11 March in Tokyo


@dataclass
class FakeAnalytics:
    """Answers like the warehouse would, recording each call; ``owners`` is the catalog."""

    owners: dict[str, str] = field(default_factory=lambda: {"v1": "studio", "v2": "other"})
    zones: dict[str, int] = field(default_factory=lambda: {"alice": 1})  # day offset from UTC
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    delay_s: float = 0.0
    opened: bool = False

    def open(self) -> None:
        self.opened = True

    def user_periods(self, user_id: str, period: str, start: date, end: date) -> list[Any]:
        self.calls.append(("user_periods", user_id, period, start, end))
        return [{"day": start, "watch_time_min": Decimal("12.500")}]

    def user_today(self, user_id: str, now: datetime) -> date:
        return date.fromordinal(now.date().toordinal() + self.zones.get(user_id, 0))

    def user_dashboard(self, user_id: str, now: datetime) -> dict[str, Any]:
        self.calls.append(("user_dashboard", user_id, now))
        return {"user_id": user_id, "today": now.date(), "all_time": None, "last_7_days": []}

    def video_analytics(self, video_id: str, start: date, end: date) -> dict[str, Any]:
        self.calls.append(("video_analytics", video_id, start, end))
        if self.delay_s:
            time.sleep(self.delay_s)
        return {"video_id": video_id, "from": start, "to": end, "rows": [], "totals": {}}

    def video_retention(self, video_id: str) -> list[Any]:
        self.calls.append(("video_retention", video_id))
        return []

    def video_creator(self, video_id: str) -> str | None:
        return self.owners.get(video_id)

    def creator_dashboard(self, creator_id: str, start: date, end: date, top: int) -> Any:
        self.calls.append(("creator_dashboard", creator_id, start, end, top))
        return {"creator_id": creator_id}

    def top_videos(self, start: date, end: date, limit: int) -> list[Any]:
        self.calls.append(("top_videos", start, end, limit))
        return [{"video_id": "v1", "views": 3}]

    def active_users(self, start: date, end: date, limit: int) -> list[Any]:
        self.calls.append(("active_users", start, end, limit))
        return [{"user_id": "alice"}]


def _services(analytics: Analytics | None) -> Services:
    return Services(
        settings=ApiSettings(),
        credentials=Credentials(frozenset({"wk"}), parse_read_tokens(TOKENS)),
        publisher=FakePublisher(),
        limiter=RateLimiter(0, 0),
        catalog_limiter=RateLimiter(0, 0),
        live=FakeLive(),
        analytics=analytics,
        clock=lambda: NOW,
    )


@pytest.fixture
def wh() -> FakeAnalytics:
    return FakeAnalytics()


@pytest.fixture
def url(wh: FakeAnalytics) -> Iterator[str]:
    with serve(create_app(_services(wh))) as base:
        yield base


def get(url: str, path: str, token: str | None = "root-token") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url + path, headers=headers)


def test_the_reader_is_opened_with_the_app(url: str, wh: FakeAnalytics) -> None:
    assert wh.opened


def test_a_user_token_reads_its_own_periods_with_dates_as_iso(url: str, wh: FakeAnalytics) -> None:
    r = get(url, "/v1/users/alice/analytics/weekly?from=2024-03-01&to=2024-03-05", "alice-token")
    assert r.status_code == 200
    assert r.json() == {
        "user_id": "alice",
        "period": "weekly",
        "from": "2024-03-01",
        "to": "2024-03-05",
        "rows": [{"day": "2024-03-01", "watch_time_min": 12.5}],
    }
    assert wh.calls == [("user_periods", "alice", "weekly", date(2024, 3, 1), date(2024, 3, 5))]


def test_user_ranges_default_to_30_days_ending_on_the_users_local_today(
    url: str, wh: FakeAnalytics
) -> None:
    body = get(url, "/v1/users/alice/analytics/daily", "alice-token").json()
    assert (body["from"], body["to"]) == ("2024-02-11", "2024-03-11")
    assert get(url, "/v1/users/bob/analytics/monthly").json()["to"] == "2024-03-10"


def test_video_ranges_default_to_30_utc_days_ending_today(url: str, wh: FakeAnalytics) -> None:
    body = get(url, "/v1/videos/v2/analytics").json()
    assert (body["from"], body["to"]) == ("2024-02-10", "2024-03-10")
    body = get(url, "/v1/videos/v2/analytics?from=2024-03-01").json()
    assert (body["from"], body["to"]) == ("2024-03-01", "2024-03-10")


def test_a_user_token_sees_no_other_user_and_no_video(url: str, wh: FakeAnalytics) -> None:
    for path in ("/v1/users/bob/analytics/daily", "/v1/users/bob/analytics/dashboard"):
        r = get(url, path, "alice-token")
        assert (r.status_code, r.json()) == (
            403,
            {"error": "authorization: this token may not read that user"},
        )
    for path in ("/v1/videos/v1/analytics", "/v1/videos/v1/retention"):
        assert get(url, path, "alice-token").status_code == 403
    assert get(url, "/v1/creators/studio/dashboard", "alice-token").status_code == 403
    assert wh.calls == []


def test_a_creator_token_reads_only_the_videos_the_catalog_gives_it(
    url: str, wh: FakeAnalytics
) -> None:
    assert get(url, "/v1/videos/v1/analytics", "studio-token").status_code == 200
    assert get(url, "/v1/videos/v1/retention", "studio-token").status_code == 200
    for vid in ("v2", "unknown"):
        r = get(url, f"/v1/videos/{vid}/retention", "studio-token")
        assert (r.status_code, r.json()) == (
            403,
            {"error": "authorization: this token may not read that video"},
        )
    assert [c[:2] for c in wh.calls] == [("video_analytics", "v1"), ("video_retention", "v1")]


def test_a_creator_token_reads_its_own_dashboard_only(url: str, wh: FakeAnalytics) -> None:
    r = get(
        url, "/v1/creators/studio/dashboard?from=2024-03-01&to=2024-03-02&top=3", "studio-token"
    )
    assert r.status_code == 200
    assert wh.calls == [("creator_dashboard", "studio", date(2024, 3, 1), date(2024, 3, 2), 3)]
    assert get(url, "/v1/creators/other/dashboard", "studio-token").status_code == 403
    assert get(url, "/v1/users/alice/analytics/dashboard", "studio-token").status_code == 403


def test_an_analyst_reads_everything(url: str) -> None:
    for path in (
        "/v1/users/bob/analytics/daily",
        "/v1/users/bob/analytics/dashboard",
        "/v1/videos/v2/analytics",
        "/v1/videos/unknown/retention",
        "/v1/creators/anyone/dashboard",
        "/v1/videos/top?limit=5",
        "/v1/users?limit=5",
    ):
        assert get(url, path).status_code == 200, path


def test_the_lists_for_pickers_are_for_analysts_only(url: str, wh: FakeAnalytics) -> None:
    assert get(url, "/v1/videos/top", "studio-token").status_code == 403
    assert get(url, "/v1/users", "alice-token").status_code == 403
    body = get(url, "/v1/videos/top?from=2024-03-01&to=2024-03-07&limit=5").json()
    assert body == {
        "from": "2024-03-01",
        "to": "2024-03-07",
        "videos": [{"video_id": "v1", "views": 3}],
    }
    assert wh.calls == [("top_videos", date(2024, 3, 1), date(2024, 3, 7), 5)]


def test_reads_need_a_known_token(url: str, wh: FakeAnalytics) -> None:
    for token in (None, "guess"):
        r = get(url, "/v1/videos/v1/analytics?from=nonsense", token)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
    assert wh.calls == []


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("from=2024-03-05&to=2024-03-01", "from: must be on or before to"),
        ("from=2023-01-01&to=2024-03-01", "to: a range spans at most 400 days"),
        ("from=2024-13-01", "from: Input should be a valid date"),
        ("to=yesterday", "to: Input should be a valid date"),
    ],
)
def test_bad_ranges_are_422_naming_the_field(
    url: str, wh: FakeAnalytics, query: str, error: str
) -> None:
    r = get(url, f"/v1/videos/v1/analytics?{query}")
    assert r.status_code == 422
    assert r.json()["error"].startswith(error)
    assert wh.calls == []


def test_a_range_of_exactly_400_days_is_allowed(url: str) -> None:
    assert get(url, "/v1/videos/v1/analytics?from=2023-02-06&to=2024-03-10").status_code == 200


def test_limits_are_bounded(url: str) -> None:
    r = get(url, "/v1/videos/top?limit=0")
    assert (r.status_code, r.json()) == (
        422,
        {"error": "limit: Input should be greater than or equal to 1"},
    )
    assert get(url, "/v1/creators/c/dashboard?top=101").status_code == 422


def test_slow_warehouse_reads_do_not_block_other_requests(wh: FakeAnalytics) -> None:
    wh.delay_s = 1.0
    with serve(create_app(_services(wh))) as base:
        slow = threading.Thread(target=get, args=(base, "/v1/videos/v1/analytics"))
        slow.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        assert httpx.get(base + "/healthz").status_code == 200
        assert time.monotonic() - t0 < 0.5
        slow.join()


def test_without_a_warehouse_analytics_answer_503() -> None:
    with serve(create_app(_services(None))) as base:
        r = get(base, "/v1/videos/v1/analytics")
    assert (r.status_code, r.json()) == (503, {"error": "analytics: no warehouse configured"})
    assert r.headers["retry-after"] == "5"


def test_me_tells_the_page_what_its_token_may_see(url: str) -> None:
    assert get(url, "/v1/me", "studio-token").json() == {"kind": "creator", "subject": "studio"}
    assert get(url, "/v1/me", "root-token").json() == {"kind": "analyst", "subject": None}
    assert get(url, "/v1/me", "guess").status_code == 401


def test_the_dashboard_is_one_origin_only(url: str) -> None:
    page = httpx.get(url + "/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    for asset in ("dashboard.js", "charts.js", "panels.js", "dashboard.css"):
        r = httpx.get(f"{url}/dashboard/{asset}")
        assert r.status_code == 200, asset
        assert b"http://" not in r.content.replace(b"http://www.w3.org/2000/svg", b"")
        assert b"https://" not in r.content
    assert httpx.get(url + "/dashboard/secrets.txt").status_code == 404
