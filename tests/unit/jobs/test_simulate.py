"""The simulate driver against the real ingest API over real HTTP, with a fake Kafka."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import shlex
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest_api.app import create_app
from ingest_api.contract import TOPIC_CATALOG, TOPIC_PLAYER_EVENTS
from ingest_api.credentials import Credentials, parse_read_tokens
from ingest_api.deps import Services
from ingest_api.errors import BrokerUnavailable
from ingest_api.rate_limit import RateLimiter
from ingest_api.settings import ApiSettings
from jobs.arrivals import measure_live_load
from jobs.audience import Audience
from jobs.demo_catalog import build_demo_catalog
from jobs.simulate import (
    ApiUnreachable,
    BatchTooLarge,
    Progress,
    ProgressLine,
    SimulationConfig,
    SimulationReport,
    WriteKeyRefused,
    add_arguments,
    run_from_args,
    simulate,
    summary,
)
from jobs.timeline import Step
from jobs.truth import Truth
from tests.support.servers import free_port, serve

KEY = "wk_sim_test"
START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@dataclass
class FakePublisher:
    """Records what would have gone to Kafka; answers 'broker away' for the next N batches."""

    unavailable_for: int = 0
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    batches: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    available: bool = True

    async def publish(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
        if self.unavailable_for:
            self.unavailable_for -= 1
            raise BrokerUnavailable(retry_after_s=2.0)
        self.batches[topic] += 1
        self.sent.extend((topic, k, v) for k, v in records)

    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(v) for t, _, v in self.sent if t == TOPIC_PLAYER_EVENTS]


class NoWorkers:
    """Live reads are not the simulator's business."""

    async def get(self, path: str, params: Mapping[str, str]) -> tuple[int, bytes]:
        return 503, b'{"error": "no workers in this test"}'


class RefusingLimiter(RateLimiter):
    """Answers 'over the rate' for the first N requests, then lets everything through."""

    def __init__(self, refusals: int) -> None:
        super().__init__(rate=0, burst=1)
        self.refusals = refusals

    def take(self, costs: Iterable[tuple[str, int]], now: float) -> float:
        if self.refusals:
            self.refusals -= 1
            return 1.5
        return 0.0


class FakeClock:
    """The clock of both the API and the simulation; sleeping moves it, instantly."""

    def __init__(self, now: datetime) -> None:
        self.time = now
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.time += timedelta(seconds=seconds)
        await asyncio.sleep(0)


@contextmanager
def api(
    clock: FakeClock | None = None,
    publisher: FakePublisher | None = None,
    limiter: RateLimiter | None = None,
    settings: ApiSettings | None = None,
) -> Iterator[tuple[str, FakePublisher]]:
    publisher = publisher or FakePublisher()
    services = Services(
        settings=settings or ApiSettings(),
        credentials=Credentials(frozenset({KEY}), parse_read_tokens("rt=analyst")),
        publisher=publisher,
        limiter=limiter or RateLimiter(rate=0, burst=1),
        catalog_limiter=RateLimiter(rate=0, burst=1),
        live=NoWorkers(),
    )
    if clock is not None:
        services.clock = clock.now
    with serve(create_app(services)) as url:
        yield url, publisher


def _config(url: str, **overrides: Any) -> SimulationConfig:
    fields: dict[str, Any] = {
        "api_url": url,
        "write_key": KEY,
        "users": 5,
        "rate": 50_000.0,
        "duration_s": 0.0,
        "backfill_days": 1.0,
        "seed": 3,
        "batch": 7,
        "connections": 3,
        "catalog": False,
        "run_tag": "test",
    }
    fields.update(overrides)
    return SimulationConfig(**fields)


async def _run(url: str, clock: FakeClock, **overrides: Any) -> SimulationReport:
    return await simulate(_config(url, **overrides), clock=clock.now, sleep=clock.sleep)


def _expected(config: SimulationConfig, report: SimulationReport) -> list[dict[str, Any]]:
    """The events the model writes for this run, rebuilt from the seed and the run's windows."""
    catalog = build_demo_catalog()
    meta = report.meta
    size = max(report.history_viewers, report.live_viewers)
    audience = Audience(catalog, size=size, seed=config.seed, tag=meta["run_tag"])
    steps: list[Step] = []
    if "history" in meta:
        h = meta["history"]
        steps += audience.history(_at(h["from"]), _at(h["to"]), h["viewers"])
    if "live" in meta:
        w = meta["live"]
        arrivals = measure_live_load(catalog).arrivals_ms(config.rate, w["viewers"])
        steps += audience.live(_at(w["from"]), _at(w["to"]), w["viewers"], arrivals)
    return [s.event for s in steps if s.event is not None]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _assert_exactly_once_in_order(
    published: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> None:
    assert len({e["event_id"] for e in published}) == len(published)
    assert sorted(e["event_id"] for e in published) == sorted(e["event_id"] for e in expected)
    by_user: dict[str, list[str]] = defaultdict(list)
    for e in published:
        by_user[e["user_id"]].append(e["event_id"])
    wanted: dict[str, list[str]] = defaultdict(list)
    for e in expected:
        wanted[e["user_id"]].append(e["event_id"])
    assert by_user == wanted  # one user's events, hence each session's, arrive in order
    seqs: dict[str, list[int]] = defaultdict(list)
    for e in published:
        if "seq" in e:
            seqs[e["session_id"]].append(e["seq"])
    assert all(s == list(range(len(s))) for s in seqs.values())


async def test_a_backfill_then_live_run_delivers_every_event_once_in_order() -> None:
    clock = FakeClock(START)
    with api(clock) as (url, publisher):
        report = await _run(url, clock, duration_s=900.0, catalog=True)
    config = _config(url, duration_s=900.0)
    expected = _expected(config, report)
    assert len(expected) > 1_000
    _assert_exactly_once_in_order(publisher.events(), expected)
    assert report.events_sent == len(expected)
    assert report.rejected == 0 and report.duplicates == 0 and report.retries == 0
    assert report.requests == publisher.batches[TOPIC_PLAYER_EVENTS]
    assert report.requests >= len(expected) / 7
    assert report.truth.events == len(expected)
    assert report.history_viewers == 5 and report.live_viewers == 5
    catalog = [k for t, k, _ in publisher.sent if t == TOPIC_CATALOG]
    assert len(catalog) == report.catalog_videos == len(build_demo_catalog())
    # Backfill ts are in the past; live ones came at their time on the clock.
    live_from = _at(report.meta["live"]["from"])
    history = [e for e in publisher.events() if _at(e["ts"]) < live_from]
    assert history and all(_at(e["ts"]) >= START - timedelta(days=1) for e in history)
    assert clock.time >= live_from + timedelta(seconds=800)


async def test_the_live_rate_derives_the_number_of_viewers_and_is_reached() -> None:
    clock = FakeClock(START)
    with api(clock) as (url, publisher):
        report = await _run(url, clock, users=None, rate=40.0, backfill_days=0.0, duration_s=120)
    load = measure_live_load(build_demo_catalog())
    assert report.live_viewers == load.viewers_for(40.0)
    assert report.history_viewers == 0
    assert 0.85 * 40 <= report.achieved_rate <= 1.15 * 40
    _assert_exactly_once_in_order(publisher.events(), _expected(_config(url, rate=40.0), report))


async def test_a_kafka_outage_is_waited_out_and_nothing_is_lost() -> None:
    clock = FakeClock(START)
    with api(clock, FakePublisher(unavailable_for=3)) as (url, publisher):
        report = await _run(url, clock)
    assert report.retries == 3
    assert clock.slept.count(2.0) >= 3  # the API's Retry-After
    _assert_exactly_once_in_order(publisher.events(), _expected(_config(url), report))
    assert report.events_sent == len(publisher.events()) and report.rejected == 0


async def test_a_rate_limited_batch_is_sent_again_after_retry_after() -> None:
    clock = FakeClock(START)
    with api(clock, limiter=RefusingLimiter(4)) as (url, publisher):
        report = await _run(url, clock)
    assert report.retries == 4
    assert clock.slept.count(2.0) >= 4  # Retry-After: 1.5 s rounded up
    _assert_exactly_once_in_order(publisher.events(), _expected(_config(url), report))


async def test_progress_is_reported_through_the_phases() -> None:
    clock = FakeClock(START)
    seen: list[Progress] = []
    with api(clock) as (url, _):
        report = await simulate(
            _config(url, duration_s=300.0), clock=clock.now, sleep=clock.sleep, progress=seen.append
        )
    phases = [p.phase for p in seen]
    assert phases[-1] == "done" and {"backfill", "live"} <= set(phases)
    assert seen[-1].sent == report.events_sent and seen[-1].rejected == 0
    assert [p.sent for p in seen] == sorted(p.sent for p in seen)


async def test_stopping_early_delivers_what_was_released_and_reports_it() -> None:
    clock = FakeClock(START)
    stop = asyncio.Event()

    def stop_after_some(p: Progress) -> None:
        if p.sent > 300:
            stop.set()

    with api(clock) as (url, publisher):
        report = await simulate(
            _config(url, rate=500.0), clock=clock.now, sleep=clock.sleep,
            progress=stop_after_some, stop=stop,
        )  # fmt: skip
    published = publisher.events()
    expected = _expected(_config(url), report)
    assert report.interrupted
    assert 300 < report.events_sent == len(published) == report.truth.events < len(expected)
    assert len({e["event_id"] for e in published}) == len(published)
    wanted: dict[str, list[str]] = defaultdict(list)
    for e in expected:
        wanted[e["user_id"]].append(e["event_id"])
    got: dict[str, list[str]] = defaultdict(list)
    for e in published:
        got[e["user_id"]].append(e["event_id"])
    for user_id, ids in got.items():
        assert ids == wanted[user_id][: len(ids)]  # each user's stream, cut cleanly


async def test_a_dead_api_is_given_up_on_with_a_clear_error() -> None:
    clock = FakeClock(START)
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ApiUnreachable, match="no answer from"):
        await _run(url, clock, catalog=True, give_up_after_s=10.0)
    assert 10 <= sum(clock.slept) <= 30


async def test_a_wrong_write_key_stops_the_run() -> None:
    clock = FakeClock(START)
    with api(clock) as (url, publisher), pytest.raises(WriteKeyRefused):
        await _run(url, clock, write_key="nope")
    assert publisher.sent == []


async def test_a_batch_beyond_the_apis_burst_stops_instead_of_waiting_forever() -> None:
    clock = FakeClock(START)
    limiter = RateLimiter(rate=5, burst=3)
    with api(clock, limiter=limiter) as (url, _), pytest.raises(BatchTooLarge, match="--batch"):
        await _run(url, clock, connections=1, batch=50)


def test_the_summary_and_the_progress_line_say_what_happened() -> None:
    config = _config("http://x", duration_s=60.0, rate=2000.0)
    report = SimulationReport(
        events_sent=12_345, duplicates=0, rejected=2, errors=("e-1: ts: too old",) * 2,
        retries=3, requests=250, elapsed_s=10.0, history_viewers=5, live_viewers=5,
        catalog_videos=0, interrupted=False, truth=Truth([]), meta={"run_tag": "test"},
    )  # fmt: skip
    text = summary(report, config)
    assert "5 with 1 days of history; 5 live for 60 s (run tag test)" in text
    assert "12,345 acknowledged in 10.0 s: 1,234 events/s (target 2,000)" in text
    assert "requests   250; retries 3; duplicates 0; rejected 2" in text
    assert "  rejected: e-1: ts: too old" in text

    out = io.StringIO()
    line = ProgressLine(out, 2000.0)
    line(Progress("backfill", 0.0, 0, 0, 0, START))
    line(Progress("backfill", 1.0, 1_000, 0, 0, START))  # within 5 s: not printed off a tty
    line(Progress("live", 6.0, 11_000, 1, 0, None))
    line(Progress("done", 7.0, 12_000, 1, 2, None))
    lines = out.getvalue().splitlines()
    assert (
        lines[0].startswith("[backfill]     0.0 s  sent 0") and "at 2026-11-21 12:00Z" in lines[0]
    )
    assert lines[1] == (
        "[live]     6.0 s  sent 11,000  2,000/s (target 2,000)  rejected 1  retries 0"
    )
    assert lines[2].startswith("[done]     7.0 s  sent 12,000  1,714/s")
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"batch": 0}, "batch"),
        ({"batch": 1001}, "batch"),
        ({"backfill_days": 8.0}, "backfill"),
        ({"backfill_days": 0.0, "duration_s": 0.0}, "nothing to simulate"),
        ({"rate": 0.0}, "rate"),
        ({"users": 0}, "users"),
    ],
)
def test_a_config_that_makes_no_sense_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _config("http://x", **overrides)


# -- the command line (real clock) --------------------------------------------------------


def _args(line: str, *more: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([*shlex.split(line), *more])


def test_the_command_finds_the_development_key_and_writes_the_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dev-credentials.json").write_text(json.dumps({"write_key": KEY}))
    monkeypatch.setenv("WATCHFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("WATCHFLOW_WRITE_KEY", raising=False)
    truth_path = tmp_path / "out" / "truth.json"
    with api() as (url, publisher):
        monkeypatch.setenv("WATCHFLOW_API_URL", url)
        argv = "--backfill-days 1 --users 4 --rate 100000 --seed 2 --quiet"
        code = run_from_args(_args(argv, "--truth-out", str(truth_path)))
    out = capsys.readouterr().out
    assert code == 0, out
    events = publisher.events()
    assert f"events     {len(events):,} acknowledged" in out
    assert "rejected 0" in out and "catalog    119 videos" in out
    truth = json.loads(truth_path.read_text())
    assert truth["schema"] == "watchflow-simulator-truth/1"
    assert truth["totals"]["events"] == len(events)
    assert truth["history"]["viewers"] == 4 and truth["seed"] == 2
    user_id, user = next(iter(truth["users"].items()))
    assert user_id.startswith("u-") and user["tz"]
    video = next(iter(user["videos"].values()))
    assert {"watch_time_s", "coverage", "position_s", "completed_count", "tolerance_s"} <= set(
        video
    )
    assert sum(u["watch_time_s"] for u in truth["users"].values()) == pytest.approx(
        truth["totals"]["watch_time_s"]
    )


def test_rejects_are_shown_and_make_the_exit_code_non_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An API that refuses anything older than 6 hours rejects most of a day of history.
    with api(settings=ApiSettings(late_limit_days=0.25)) as (url, _):
        argv = "--backfill-days 1 --users 4 --rate 100000 --no-catalog --quiet"
        code = run_from_args(_args(argv, "--api-url", url, "--write-key", KEY))
    out = capsys.readouterr().out
    assert code == 1
    assert "rejected 0" not in out
    assert "late-event limit" in out


def test_without_any_write_key_the_command_says_where_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WATCHFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("WATCHFLOW_WRITE_KEY", raising=False)
    assert run_from_args(_args("--duration 1")) == 2
    assert "no write key" in capsys.readouterr().err
