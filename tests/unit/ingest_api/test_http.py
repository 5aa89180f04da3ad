"""The ingest API over real HTTP, with a hand-written publisher in place of Kafka."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest

from ingest_api.app import create_app
from ingest_api.contract import TOPIC_CATALOG, TOPIC_PLAYER_EVENTS
from ingest_api.credentials import Credentials, parse_read_tokens
from ingest_api.deps import Services
from ingest_api.errors import BrokerUnavailable
from ingest_api.rate_limit import RateLimiter
from ingest_api.settings import ApiSettings
from tests.support.events import NOW, catalog_video, event
from tests.support.servers import serve

KEY = "wk_test_key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@dataclass
class FakePublisher:
    """Records what would have gone to Kafka; can be switched to 'broker away'."""

    available: bool = True
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    async def publish(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
        if not self.available:
            raise BrokerUnavailable(retry_after_s=2.0)
        self.sent.extend((topic, k, v) for k, v in records)


@dataclass
class FakeLive:
    """Answers live reads as a worker would, remembering what was asked."""

    asked: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def get(self, path: str, params: Mapping[str, str]) -> tuple[int, bytes]:
        self.asked.append((path, dict(params)))
        return 200, orjson.dumps({"path": path})


@dataclass
class Api:
    url: str
    publisher: FakePublisher
    client: httpx.Client

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return self.client.post(
            self.url + path, content=content, headers=AUTH if headers is None else headers
        )


def _now() -> datetime:
    return NOW


@pytest.fixture
def api() -> Iterator[Api]:
    publisher = FakePublisher()
    services = Services(
        settings=ApiSettings(),
        credentials=Credentials(frozenset({KEY}), parse_read_tokens("rt=analyst")),
        publisher=publisher,
        limiter=RateLimiter(rate=5, burst=50),
        catalog_limiter=RateLimiter(rate=100, burst=1000),
        live=FakeLive(),
        clock=_now,
    )
    with serve(create_app(services)) as url, httpx.Client() as client:
        yield Api(url, publisher, client)


def test_a_valid_batch_is_acknowledged_and_published_keyed_by_user(api: Api) -> None:
    events = [event("start", user_id="alice"), event("heartbeat", user_id="bob")]
    r = api.post("/v1/events", {"events": events})
    assert r.status_code == 200
    assert r.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert [(t, k) for t, k, _ in api.publisher.sent] == [
        (TOPIC_PLAYER_EVENTS, b"alice"),
        (TOPIC_PLAYER_EVENTS, b"bob"),
    ]
    assert [orjson.loads(v) for _, _, v in api.publisher.sent] == events


def test_a_mixed_batch_accepts_the_valid_and_names_each_invalid_field(api: Api) -> None:
    good = event("heartbeat")
    bad_position = event("heartbeat", position_s=-3)
    bad_type = event("teleport")
    r = api.post("/v1/events", {"events": [bad_position, good, bad_type]})
    assert r.status_code == 200
    assert r.json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [
            {
                "index": 0,
                "event_id": bad_position["event_id"],
                "error": "position_s: Input should be greater than or equal to 0",
            },
            {
                "index": 2,
                "event_id": bad_type["event_id"],
                "error": "type: unknown event type 'teleport'",
            },
        ],
    }
    assert [orjson.loads(v) for _, _, v in api.publisher.sent] == [good]


def test_a_batch_with_nothing_valid_is_422_with_the_same_details(api: Api) -> None:
    r = api.post("/v1/events", {"events": [event(position_s="far")]})
    assert r.status_code == 422
    assert (
        r.json()["rejected"][0]["error"]
        == "position_s: Input should be a valid number, unable to parse string as a number"
    )
    assert api.publisher.sent == []


def test_repeats_of_an_event_id_within_a_batch_are_counted_not_republished(api: Api) -> None:
    e = event()
    r = api.post("/v1/events", {"events": [e, e, e]})
    assert r.json() == {"accepted": 1, "duplicates": 2, "rejected": []}
    assert len(api.publisher.sent) == 1


def test_unknown_fields_travel_under_extra(api: Api) -> None:
    e = event(cdn="edge-7")
    api.post("/v1/events", {"events": [e]})
    published = orjson.loads(api.publisher.sent[0][2])
    assert "cdn" not in published
    assert published["extra"] == {"cdn": "edge-7"}


def test_wrong_or_missing_write_key_is_401(api: Api) -> None:
    body = {"events": [event()]}
    for headers in ({"Authorization": "Bearer nope"}, {}, {"Authorization": KEY}):
        r = api.post("/v1/events", body, headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json() == {"error": "authorization: missing or unknown write key"}
    assert api.publisher.sent == []


def test_malformed_json_is_400(api: Api) -> None:
    r = api.post("/v1/events", b'{"events": [')
    assert r.status_code == 400
    assert r.json()["error"].startswith("malformed JSON")


def test_oversize_body_is_413(api: Api) -> None:
    r = api.post("/v1/events", b"{" + b" " * (1024 * 1024 + 1) + b"}")
    assert r.status_code == 413
    assert api.publisher.sent == []


def test_batch_sizes_outside_1_to_1000_are_422(api: Api) -> None:
    assert api.post("/v1/events", {"events": []}).status_code == 422
    r = api.post("/v1/events", {"events": [event()] * 1001})
    assert r.status_code == 422
    assert r.json() == {"error": "events: expected 1 to 1000 items, got 1001"}
    assert api.post("/v1/events", {"evts": [event()]}).json() == {
        "error": "events: expected an array"
    }


def test_a_device_over_its_rate_gets_429_with_retry_after(api: Api) -> None:
    body = {"events": [event(device_id="chatty") for _ in range(50)]}
    assert api.post("/v1/events", body).status_code == 200
    r = api.post("/v1/events", {"events": [event(device_id="chatty")]})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    assert r.json() == {"error": "device_id: rate limit exceeded"}
    # Another device is unaffected.
    assert api.post("/v1/events", {"events": [event(device_id="quiet")]}).status_code == 200


def test_broker_away_is_503_with_retry_after_and_nothing_acknowledged(api: Api) -> None:
    api.publisher.available = False
    r = api.post("/v1/events", {"events": [event()]})
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"
    assert api.client.get(api.url + "/readyz").status_code == 503
    api.publisher.available = True
    assert api.post("/v1/events", {"events": [event()]}).status_code == 200
    assert api.client.get(api.url + "/readyz").status_code == 200


def test_catalog_upserts_are_keyed_by_video(api: Api) -> None:
    r = api.post("/v1/catalog/videos", {"videos": [catalog_video("v9"), {"video_id": "v10"}]})
    assert r.json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [{"index": 1, "event_id": "v10", "error": "duration_s: Field required"}],
    }
    assert [(t, k) for t, k, _ in api.publisher.sent] == [(TOPIC_CATALOG, b"v9")]


def test_metrics_count_accepted_and_rejected(api: Api) -> None:
    api.post("/v1/events", {"events": [event(), event(position_s=-1)]})
    text = api.client.get(api.url + "/metrics").text
    assert 'watchflow_events_accepted_total{kind="events"} 1.0' in text
    assert 'watchflow_events_rejected_total{kind="events"} 1.0' in text
    assert "watchflow_produce_latency_seconds_count 1.0" in text
    assert 'watchflow_http_requests_total{route="/v1/events",status="200"} 1.0' in text


def test_healthz_answers_without_kafka(api: Api) -> None:
    api.publisher.available = False
    assert api.client.get(api.url + "/healthz").json() == {"status": "ok"}


def test_an_event_too_large_to_publish_is_rejected_by_itself(api: Api) -> None:
    big = event(debug_dump="x" * 200_000)
    small = event()
    r = api.post("/v1/events", {"events": [big, small]})
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 0
    assert body["rejected"][0]["error"].startswith("event: ")
    assert body["rejected"][0]["error"].endswith("exceeds the 102400 byte limit")
