"""Live reads over real HTTP: scoped by read token, answered by the stream workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import httpx
import pytest

from ingest_api.app import create_app
from ingest_api.credentials import Credentials, parse_read_tokens
from ingest_api.deps import Services
from ingest_api.live import WorkerClient
from ingest_api.rate_limit import RateLimiter
from ingest_api.settings import ApiSettings
from tests.support.servers import free_port, serve
from tests.unit.ingest_api.test_http import FakeLive, FakePublisher

TOKENS = "alice-token=user:alice,studio-token=creator:studio,root-token=analyst"


def _services(live: object) -> Services:
    return Services(
        settings=ApiSettings(),
        credentials=Credentials(frozenset({"wk"}), parse_read_tokens(TOKENS)),
        publisher=FakePublisher(),
        limiter=RateLimiter(0, 0),
        catalog_limiter=RateLimiter(0, 0),
        live=cast(FakeLive, live),
    )


@pytest.fixture
def live() -> FakeLive:
    return FakeLive()


@pytest.fixture
def url(live: FakeLive) -> Iterator[str]:
    with serve(create_app(_services(live))) as base:
        yield base


def get(url: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url + path, headers=headers)


def test_a_user_token_reads_that_users_state(url: str, live: FakeLive) -> None:
    r = get(url, "/v1/users/alice/videos/v1?device_id=tv-1", "alice-token")
    assert r.status_code == 200
    assert live.asked == [("/state/users/alice/videos/v1", {"device_id": "tv-1"})]


def test_a_user_token_cannot_read_another_user(url: str, live: FakeLive) -> None:
    for path in ("videos/v1", "continue-watching", "next-up", "history"):
        r = get(url, f"/v1/users/bob/{path}", "alice-token")
        assert r.status_code == 403
        assert r.json() == {"error": "authorization: this token may not read that user"}
    assert live.asked == []


def test_a_creator_token_cannot_read_viewers(url: str) -> None:
    assert get(url, "/v1/users/alice/history", "studio-token").status_code == 403


def test_an_analyst_reads_everyone(url: str, live: FakeLive) -> None:
    assert get(url, "/v1/users/bob/next-up?limit=5", "root-token").status_code == 200
    assert live.asked == [("/state/users/bob/next-up", {"limit": "5"})]


def test_reads_need_a_known_token(url: str) -> None:
    assert get(url, "/v1/users/alice/history", None).status_code == 401
    assert get(url, "/v1/users/alice/history", "guess").status_code == 401


def test_query_parameters_are_validated_by_name(url: str) -> None:
    r = get(url, "/v1/users/alice/continue-watching?limit=0", "alice-token")
    assert r.status_code == 422
    assert r.json() == {"error": "limit: Input should be greater than or equal to 1"}


def test_ids_are_passed_to_the_worker_escaped(url: str, live: FakeLive) -> None:
    get(url, "/v1/users/alice/videos/a%20b%3F", "alice-token")
    assert live.asked[0][0] == "/state/users/alice/videos/a%20b%3F"


async def test_no_reachable_worker_is_503_with_retry_after() -> None:
    client = WorkerClient([f"http://127.0.0.1:{free_port()}"], timeout_s=1)
    with serve(create_app(_services(client))) as base:
        r = get(base, "/v1/users/alice/history", "alice-token")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    assert r.json()["error"].startswith("live state: no stream worker answered")
