"""``watchflow erase-user`` and ``watchflow rollup --once`` against a warehouse on disk."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from ingest_api.contract import EVENT, SessionRecord
from tests.support.events import event, iso
from warehouse import views
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


def test_erase_user_prints_what_it_removed_and_what_it_could_not_reach(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store.open(data_dir)
    watched(store, "alice")
    watched(store, "bob")
    assert cli.main(["rollup", "--once"]) == 0
    capsys.readouterr()

    assert cli.main(["erase-user", "alice"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["user_id"] == "alice"
    assert report["tier1_rows"] == {"events": 1, "sessions": 1}
    assert report["tier2_rows"]["video_viewers"] == 1
    assert set(report["not_erased"]) == {"live_state", "kafka_log"}
    assert views_of_v1(data_dir) == 1  # bob's view stays
