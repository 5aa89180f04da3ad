"""The simulated audience: behaviour that looks like players, and events that reveal the truth."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ingest_api.contract import EVENT, ValidationContext
from jobs.audience import Audience
from jobs.demo_catalog import build_demo_catalog
from jobs.timeline import HEARTBEAT_MS, Step, ms_of
from jobs.truth import Truth

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CATALOG = build_demo_catalog()


def _history(seed: int = 7, users: int = 12, days: float = 2.0) -> list[Step]:
    audience = Audience(CATALOG, size=users, seed=seed, tag="t")
    return list(audience.history(NOW - timedelta(days=days), NOW))


def _live(seed: int = 7, users: int = 12, seconds: int = 1800) -> list[Step]:
    audience = Audience(CATALOG, size=users, seed=seed, tag="t")
    return list(audience.live(NOW, NOW + timedelta(seconds=seconds)))


@pytest.fixture(scope="module")
def audience() -> Audience:
    return Audience(CATALOG, size=12, seed=7, tag="t")


@pytest.fixture(scope="module")
def timeline(audience: Audience) -> list[Step]:
    """Two days of history, then the same viewers watching live for half an hour."""
    steps = list(audience.history(NOW - timedelta(days=2), NOW))
    steps += audience.live(NOW, NOW + timedelta(minutes=30))
    return steps


@pytest.fixture(scope="module")
def crowd() -> list[Step]:
    """A larger audience, where rarer behaviour shows up."""
    return _history(seed=11, users=120, days=1.5)


def _events(steps: Iterable[Step]) -> list[dict[str, Any]]:
    return [s.event for s in steps if s.event is not None]


def _sessions(steps: Iterable[Step]) -> dict[str, list[dict[str, Any]]]:
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in _events(steps):
        if "seq" in e:
            by_session[e["session_id"]].append(e)
    return by_session


def _ts(e: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(e["ts"])


# -- behaviour ----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_audience_and_another_seed_another() -> None:
    assert _events(_history(seed=3, users=4)) == _events(_history(seed=3, users=4))
    assert _events(_live(seed=3, users=4, seconds=600)) == _events(
        _live(seed=3, users=4, seconds=600)
    )
    assert _events(_history(seed=3, users=4)) != _events(_history(seed=4, users=4))


def test_every_event_is_valid_for_the_api(timeline: list[Step]) -> None:
    ctx = ValidationContext(now=NOW + timedelta(minutes=30))
    events = _events(timeline)
    assert len(events) > 5_000
    for doc in events:
        EVENT.validate_python(doc, context=ctx)
    assert len({e["event_id"] for e in events}) == len(events)


def test_the_audience_does_everything_players_do(timeline: list[Step]) -> None:
    kinds = Counter(s.kind for s in timeline)
    for kind in (
        "start", "play", "pause", "heartbeat", "seek", "buffer_start", "buffer_end",
        "rate_change", "ended", "stop", "idle", "set_preferences", "rate", "bookmark",
    ):  # fmt: skip
        assert kinds[kind] > 0, kind
    events = _events(timeline)
    assert len({e["context"]["device_type"] for e in events}) >= 3
    assert len({e["context"]["tz"] for e in events}) >= 4
    seeks = [e for e in events if e["type"] == "seek"]
    assert any(e["position_s"] > e["from_position_s"] for e in seeks)
    assert any(e["position_s"] < e["from_position_s"] for e in seeks)
    assert {e.get("playback_rate") for e in events} >= {1.0, 1.25, 1.5, 2.0}
    # Some apps write local offsets; the instant is what counts.
    assert any(not e["ts"].endswith("Z") for e in events)


def test_rarer_behaviour_shows_up_in_a_larger_audience(crowd: list[Step]) -> None:
    steps = crowd
    kinds = Counter(s.kind for s in steps)
    for kind in ("error", "mark_watched", "skip", "set_isolation", "queue_add"):
        assert kinds[kind] > 0, kind
    sessions = _sessions(steps)
    videos_by_user: dict[str, Counter[str]] = defaultdict(Counter)
    for events in sessions.values():
        videos_by_user[events[0]["user_id"]][events[0]["video_id"]] += 1
    assert any(n > 1 for c in videos_by_user.values() for n in c.values())  # resumed, rewatched
    referrers = {events[0]["context"]["referrer"] for events in sessions.values()}
    assert "up_next" in referrers  # binged the next episode or lesson


def test_sessions_start_once_and_count_seq_up_in_time_order(timeline: list[Step]) -> None:
    for session_id, events in _sessions(timeline).items():
        assert [e["seq"] for e in events] == list(range(len(events))), session_id
        assert events[0]["type"] == "start" and events[0]["duration_s"] > 0
        assert events[0]["video"]["title"]
        assert all(e["type"] != "start" for e in events[1:])
        times = [_ts(e) for e in events]
        assert times == sorted(times)
        assert len({(e["user_id"], e["device_id"], e["video_id"]) for e in events}) == 1


def test_heartbeats_come_every_10_s_while_playing_and_never_otherwise(
    timeline: list[Step],
) -> None:
    beat = timedelta(milliseconds=HEARTBEAT_MS)
    for events in _sessions(timeline).values():
        playing = before_buffer = False
        for prev, e in itertools.pairwise(events):
            gap = _ts(e) - _ts(prev)
            if playing:
                assert gap <= beat
            if e["type"] == "heartbeat":
                assert playing
                assert gap == beat
            playing, before_buffer = _playing_after(e["type"], playing, before_buffer)


def _playing_after(kind: str, playing: bool, before_buffer: bool) -> tuple[bool, bool]:
    if kind == "play":
        return True, before_buffer
    if kind == "buffer_start":
        return False, playing
    if kind == "buffer_end":
        return before_buffer, before_buffer
    if kind in ("pause", "ended", "stop", "error"):
        return False, before_buffer
    return playing, before_buffer


def test_history_stays_in_its_window_and_each_viewer_in_time_order() -> None:
    steps = _history(days=3)
    start, end = ms_of(NOW - timedelta(days=3)), ms_of(NOW)
    assert all(start <= s.at_ms <= end for s in steps)
    assert [s.at_ms for s in steps] == sorted(s.at_ms for s in steps)
    for s in steps:
        if s.event is not None:
            assert ms_of(_ts(s.event)) == s.at_ms  # whatever offset the app wrote


def test_viewers_watch_at_their_local_evening_hours_more_than_at_dawn(crowd: list[Step]) -> None:
    steps = crowd
    hours: Counter[int] = Counter()
    for e in _events(steps):
        if e["type"] == "start":
            local = _ts(e).astimezone(ZoneInfo(e["context"]["tz"]))
            hours[local.hour] += 1
    assert sum(hours[h] for h in range(19, 23)) > 4 * sum(hours[h] for h in range(2, 6))


# -- the truth against what the events reveal ---------------------------------------------


def test_the_events_reveal_the_truth_within_one_heartbeat_per_session(
    audience: Audience, timeline: list[Step]
) -> None:
    """A plain reading of SPEC §4.1 over the events lands within the tolerance of the truth."""
    truth = Truth(audience.profile)
    for s in timeline:
        truth.apply(s)
    doc = truth.to_json()
    seen = _read_events(_events(timeline))
    assert seen
    for (user_id, video_id), (watch_s, covered_s) in seen.items():
        video = doc["users"][user_id]["videos"][video_id]
        tolerance = video["tolerance_s"]
        assert abs(watch_s - video["watch_time_s"]) <= tolerance
        assert abs(covered_s - video["coverage"] * video["duration_s"]) <= tolerance
    total = sum(w for w, _ in seen.values())
    assert total == pytest.approx(doc["totals"]["watch_time_s"], rel=0.01)


def _read_events(events: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[float, float]]:
    """Watch time and covered media per (user, video), from events alone."""
    spans: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    watch: dict[tuple[str, str], float] = defaultdict(float)
    for session in _sessions_of(events).values():
        key = (session[0]["user_id"], session[0]["video_id"])
        playing = before_buffer = False
        for prev, e in itertools.pairwise(session):
            if playing:
                wall = (_ts(e) - _ts(prev)).total_seconds()
                end = e["from_position_s"] if e["type"] == "seek" else e["position_s"]
                media = end - prev["position_s"]
                if 0 <= media <= wall * prev["playback_rate"] + 0.01:
                    watch[key] += wall
                    spans[key].append((prev["position_s"], end))
            playing, before_buffer = _playing_after(e["type"], playing, before_buffer)
        watch.setdefault(key, 0.0)
    return {k: (watch[k], _union(spans[k])) for k in watch}


def _sessions_of(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if "seq" in e:
            out[e["session_id"]].append(e)
    return out


def _union(spans: list[tuple[float, float]]) -> float:
    total, reach = 0.0, -1.0
    for a, b in sorted(spans):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total
