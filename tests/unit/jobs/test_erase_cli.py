"""``watchflow erase-user`` and ``watchflow rollup --once`` against a warehouse on disk (Kafka:
a fake publisher, or an address nobody listens on)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from ingest_api.contract import EVENT, TOPIC_PLAYER_EVENTS, EraseRequest, SessionRecord
from jobs import erase
from tests.support.events import event, iso
from warehouse import views
from warehouse.errors import LockTimeout
from warehouse.store import Store
from warehouse.tier1 import write_batch
from watchflow import cli

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def watched(store: Store, user: str) -> None:
    start = EVENT.validate_python(
        event("start", user_id=user, session_id="s1", ts=iso(T0), video_id="v1")
    )
    session = SessionRecord(
        session_key=f"{user}|s1", user_id=user, session_id="s1", video_id="v1",
        device_id="d1", started_at=T0, ended_at=T0, end_reason="stop", watch_time_s=60.0,
        played_s=60.0, position_start_s=0.0, position_end_s=60.0, coverage_start=0.0,
        coverage_end=0.1, duration_s=600.0, startup_time_s=0.4,
    )  # fmt: skip
    write_batch(store, events=[start], sessions=[session])


def views_of_v1(data_dir: Path) -> int:
    con = views.connect(data_dir)
    try:
        row = con.execute("SELECT sum(views) FROM video_daily WHERE video_id = 'v1'").fetchone()
    finally:
        con.close()
    return int(row[0] or 0) if row else 0


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WATCHFLOW_DATA_DIR", str(tmp_path))
    # The CLI routes logging to stderr as JSON; leave pytest's own log capture in place.
    monkeypatch.setattr(cli.logs, "configure", lambda level="INFO": None)
    return tmp_path


def test_rollup_once_turns_what_the_sink_wrote_into_video_daily_and_exits_0(
    data_dir: Path,
) -> None:
    store = Store.open(data_dir)
    watched(store, "alice")
    watched(store, "bob")
    assert cli.main(["rollup", "--once"]) == 0
    assert views_of_v1(data_dir) == 2


class FakeKafka:
    """Takes erase requests as Kafka would, or fails like a broker that is away."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.requests: list[EraseRequest] = []

    def publish(self, req: EraseRequest) -> erase.Published:
        if self.down:
            raise erase.ErasureNotPublished("127.0.0.1:9092", "KafkaConnectionError()")
        self.requests.append(req)
        return erase.Published(TOPIC_PLAYER_EVENTS, 3, 41 + len(self.requests))


@pytest.fixture
def kafka(monkeypatch: pytest.MonkeyPatch) -> FakeKafka:
    fake = FakeKafka()
    monkeypatch.setattr(erase, "kafka_publisher", lambda bootstrap, timeout_s: fake.publish)
    return fake


def alice_and_bob_watched(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store.open(data_dir)
    watched(store, "alice")
    watched(store, "bob")
    assert cli.main(["rollup", "--once"]) == 0
    capsys.readouterr()


def test_erase_user_publishes_an_erasure_then_prints_what_it_removed_and_what_it_did_not(
    data_dir: Path, capsys: pytest.CaptureFixture[str], kafka: FakeKafka
) -> None:
    alice_and_bob_watched(data_dir, capsys)

    assert cli.main(["erase-user", "alice"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    [req] = kafka.requests
    assert (req.control, req.user_id) == ("erase_user", "alice")
    assert req.requested_at.utcoffset() is not None
    assert report["user_id"] == "alice"
    assert report["tier1_rows"] == {"events": 1, "sessions": 1}
    assert report["tier2_rows"]["video_viewers"] == 1
    assert report["erasure_id"] == req.erasure_id
    assert report["erasure_record"] == {"topic": "player-events", "partition": 3, "offset": 42}
    assert report["live_state"] == (
        f"erasure record published to player-events partition 3 offset 42 (erasure_id "
        f"{req.erasure_id}): each worker drops the user's state when it reaches it"
    )
    assert set(report["not_erased"]) == {"kafka_log"}
    assert report["not_erased"]["kafka_log"].startswith("not erased until retention")
    assert views_of_v1(data_dir) == 1  # bob's view stays


def test_each_erase_user_run_is_a_new_erasure(
    data_dir: Path, capsys: pytest.CaptureFixture[str], kafka: FakeKafka
) -> None:
    alice_and_bob_watched(data_dir, capsys)
    assert cli.main(["erase-user", "alice"]) == 0
    capsys.readouterr()
    assert cli.main(["erase-user", "alice"]) == 0  # nothing left: still published, reported
    again = orjson.loads(capsys.readouterr().out)
    first, second = kafka.requests
    assert first.erasure_id != second.erasure_id == again["erasure_id"]
    assert again["tier1_rows"] == {} and again["erasure_record"]["offset"] == 43


def test_erase_user_fails_without_erasing_anything_when_kafka_does_not_take_the_erasure(
    data_dir: Path, capsys: pytest.CaptureFixture[str], kafka: FakeKafka
) -> None:
    alice_and_bob_watched(data_dir, capsys)
    kafka.down = True

    assert cli.main(["erase-user", "alice"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert "nothing was erased" in out.err and "127.0.0.1:9092" in out.err
    assert views_of_v1(data_dir) == 2  # alice's view is still there


def test_erase_user_against_an_address_with_no_broker_fails_fast_and_erases_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice_and_bob_watched(data_dir, capsys)
    monkeypatch.setenv("WATCHFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("WATCHFLOW_ERASE_KAFKA_TIMEOUT_S", "5")

    assert cli.main(["erase-user", "alice"]) == 1
    assert "could not publish the erasure record to Kafka at 127.0.0.1:1" in capsys.readouterr().err
    assert views_of_v1(data_dir) == 2


def test_erase_user_exits_1_saying_the_erasure_is_published_when_the_warehouse_erase_fails(
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    kafka: FakeKafka,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice_and_bob_watched(data_dir, capsys)

    def busy(store: Store, user_id: str) -> None:
        raise LockTimeout("rollup", 120.0)

    monkeypatch.setattr(erase, "erase_user", busy)
    assert cli.main(["erase-user", "alice"]) == 1
    err = capsys.readouterr().err
    [req] = kafka.requests
    assert f"erasure {req.erasure_id} is published to player-events partition 3 offset 42" in err
    assert "lock rollup still busy" in err and "the sink erases it" in err
