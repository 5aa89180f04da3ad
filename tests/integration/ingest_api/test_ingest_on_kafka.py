"""The ingest API on a real Kafka broker: what is acknowledged is in Kafka, and only that."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from ingest_api.contract import TOPIC_CATALOG, TOPIC_PLAYER_EVENTS
from ingest_api.main import build_app
from ingest_api.settings import ApiSettings
from tests.support.events import catalog_video, event, iso
from tests.support.kafka import consume_until
from tests.support.servers import free_port, serve
from watchflow.local_kafka import LocalKafka

pytestmark = pytest.mark.integration

KEY = "wk_integration"
LAG_GROUP = f"lag-probe-{uuid.uuid4().hex[:8]}"


@dataclass
class LiveApi:
    url: str
    bootstrap: str
    client: httpx.AsyncClient

    async def post(self, path: str, body: object, key: str = KEY) -> httpx.Response:
        return await self.client.post(
            self.url + path,
            content=body if isinstance(body, bytes) else orjson.dumps(body),
            headers={"Authorization": f"Bearer {key}"},
        )

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        for _ in range(int(timeout_s * 10)):
            if (await self.client.get(self.url + "/readyz")).status_code == 200:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("API never became ready")


def _settings(bootstrap: str, data_dir: Path) -> ApiSettings:
    return ApiSettings(
        kafka_bootstrap=bootstrap,
        write_keys=KEY,
        read_tokens="rt=analyst",
        data_dir=data_dir,
        produce_timeout_s=3.0,
        lag_groups=LAG_GROUP,
    )


@pytest.fixture
def api_server(kafka_bootstrap: str, tmp_path: Path) -> Iterator[str]:
    with serve(build_app(_settings(kafka_bootstrap, tmp_path))) as url:
        yield url


@pytest.fixture
async def api(api_server: str, kafka_bootstrap: str) -> AsyncIterator[LiveApi]:
    async with httpx.AsyncClient(timeout=30) as client:
        live = LiveApi(api_server, kafka_bootstrap, client)
        await live.wait_ready()
        yield live


def _now_iso() -> str:
    return iso(datetime.now(UTC))


def _fresh_events(n: int, user: str) -> list[dict[str, object]]:
    return [event("heartbeat", user_id=user, ts=_now_iso(), seq=i) for i in range(n)]


def _id_of(value: bytes) -> str:
    doc = orjson.loads(value)
    return str(doc.get("event_id") or doc["video_id"])


async def _records_for(
    bootstrap: str, topic: str, ids: set[str]
) -> dict[str, tuple[bytes | None, dict[str, object]]]:
    """The records of ``topic`` whose event_id (or video_id) is in ``ids``, by that id."""
    recs = await consume_until(
        bootstrap, topic, lambda got: len(got) >= len(ids), keep=lambda r: _id_of(r.value) in ids
    )
    return {_id_of(r.value): (r.key, orjson.loads(r.value)) for r in recs}


async def test_a_posted_batch_arrives_in_kafka_keyed_by_user_with_the_exact_payload(
    api: LiveApi,
) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    events = _fresh_events(25, user) + _fresh_events(5, user + "-b")
    r = await api.post("/v1/events", {"events": events})
    assert r.json() == {"accepted": 30, "duplicates": 0, "rejected": []}
    got = await _records_for(
        api.bootstrap, TOPIC_PLAYER_EVENTS, {str(e["event_id"]) for e in events}
    )
    assert len(got) == 30
    for e in events:
        key, doc = got[str(e["event_id"])]
        assert key == str(e["user_id"]).encode()
        assert doc == e


async def test_a_mixed_batch_puts_only_the_valid_events_in_kafka(api: LiveApi) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    good = _fresh_events(3, user)
    bad = [
        event("heartbeat", user_id=user, ts=_now_iso(), playback_rate=0),
        event("start", user_id=user, ts=_now_iso(), duration_s=None),
    ]
    r = await api.post("/v1/events", {"events": [good[0], bad[0], good[1], bad[1], good[2]]})
    body = r.json()
    assert body["accepted"] == 3
    assert [(x["index"], x["error"]) for x in body["rejected"]] == [
        (1, "playback_rate: Input should be greater than 0"),
        (3, "duration_s: Input should be a valid number"),
    ]
    wanted = {str(e["event_id"]) for e in good + bad}
    recs = await consume_until(
        api.bootstrap,
        TOPIC_PLAYER_EVENTS,
        lambda got: len(got) >= 3,
        keep=lambda rec: _id_of(rec.value) in wanted,
    )
    # Give a stray invalid record time to show up, if one had been produced.
    more = await consume_until(
        api.bootstrap,
        TOPIC_PLAYER_EVENTS,
        lambda got: False,
        timeout_s=2,
        keep=lambda rec: _id_of(rec.value) in wanted,
    )
    ids = sorted(orjson.loads(x.value)["event_id"] for x in more)
    assert len(recs) >= 3
    assert ids == sorted(str(e["event_id"]) for e in good)


async def test_bad_requests_reach_nothing(api: LiveApi) -> None:
    assert (await api.post("/v1/events", b'{"events": [}')).status_code == 400
    assert (await api.post("/v1/events", {"events": [event()]}, key="wrong")).status_code == 401
    assert (await api.post("/v1/events", b"[" + b"0," * 600_000 + b"0]")).status_code == 413


async def test_catalog_upserts_arrive_keyed_by_video(api: LiveApi) -> None:
    vid = f"vid-{uuid.uuid4().hex[:8]}"
    r = await api.post("/v1/catalog/videos", {"videos": [catalog_video(vid, series_id="s")]})
    assert r.json()["accepted"] == 1
    got = await _records_for(api.bootstrap, TOPIC_CATALOG, {vid})
    assert got[vid][0] == vid.encode()
    assert got[vid][1]["series_id"] == "s"


async def test_broker_down_is_503_and_back_up_accepts_again_losing_nothing(
    kafka_jars: Path, tmp_path: Path
) -> None:
    port = free_port()
    broker = LocalKafka(tmp_path / "broker", kafka_jars, port=port)
    bootstrap = broker.up()
    try:
        with serve(build_app(_settings(bootstrap, tmp_path))) as url:
            async with httpx.AsyncClient(timeout=30) as client:
                live = LiveApi(url, bootstrap, client)
                await live.wait_ready()
                user = f"user-{uuid.uuid4().hex[:8]}"
                before = _fresh_events(10, user)
                assert (await live.post("/v1/events", {"events": before})).status_code == 200

                broker.down()
                during = _fresh_events(5, user)
                r = await live.post("/v1/events", {"events": during})
                assert r.status_code == 503
                assert int(r.headers["retry-after"]) >= 1
                assert (await client.get(url + "/readyz")).status_code == 503
                # Still 503, and fast, while the broker stays away.
                r = await live.post("/v1/events", {"events": during})
                assert r.status_code == 503

                assert broker.up() == bootstrap
                await live.wait_ready()
                after = _fresh_events(10, user)
                assert (await live.post("/v1/events", {"events": after})).status_code == 200

                acked = {str(e["event_id"]) for e in before + after}
                got = await _records_for(bootstrap, TOPIC_PLAYER_EVENTS, acked)
                assert set(got) == acked
    finally:
        broker.down()


async def test_the_catalog_topic_is_compacted_so_it_keeps_the_latest_entry_per_video(
    api: LiveApi,
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=api.bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, TOPIC_CATALOG, {"cleanup.policy": None})]
        )
    finally:
        await admin.close()
    entries = {entry[0]: entry[1] for entry in response.resources[0][4]}
    assert entries["cleanup.policy"] == "compact"


async def test_metrics_show_events_in_kafka_and_each_consumers_lag(api: LiveApi) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    user = f"user-{uuid.uuid4().hex[:8]}"
    assert (await api.post("/v1/events", {"events": _fresh_events(7, user)})).status_code == 200
    # A consumer group that has read nothing: its lag is every record on the topic.
    probe = AIOKafkaConsumer(
        bootstrap_servers=api.bootstrap, group_id=LAG_GROUP, enable_auto_commit=False
    )
    await probe.start()
    try:
        tps = [TopicPartition(TOPIC_PLAYER_EVENTS, p) for p in range(8)]
        probe.assign(tps)
        await probe.commit({tp: OffsetAndMetadata(0, "") for tp in tps})
    finally:
        await probe.stop()

    def gauge(text: str, name: str) -> float:
        return float(next(line for line in text.splitlines() if line.startswith(name)).split()[-1])

    for _ in range(50):
        text = (await api.client.get(api.url + "/metrics")).text
        if f'group="{LAG_GROUP}"' in text:
            break
        await asyncio.sleep(0.5)
    records = gauge(text, f'watchflow_topic_records{{topic="{TOPIC_PLAYER_EVENTS}"}}')
    lag = gauge(
        text, f'watchflow_consumer_lag{{group="{LAG_GROUP}",topic="{TOPIC_PLAYER_EVENTS}"}}'
    )
    assert records >= 7
    assert lag == records
