"""The simulated audience: behaviour that looks like players, and a truth that adds up."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ingest_api.contract import CATALOG_VIDEO, EVENT, ValidationContext
from jobs.audience import (
    HEARTBEAT_MS,
    Audience,
    Player,
    Step,
    Truth,
    Viewer,
    measure_live_load,
    ms_of,
)
from jobs.demo_catalog import Catalog, Kind, build_demo_catalog

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


# -- the catalog --------------------------------------------------------------------------


def test_the_demo_catalog_is_the_same_every_time_and_valid_for_the_api() -> None:
    again = build_demo_catalog()
    assert [v.catalog_doc() for v in again.videos] == [v.catalog_doc() for v in CATALOG.videos]
    for v in CATALOG.videos:
        CATALOG_VIDEO.validate_python(v.catalog_doc())
    durations = [v.duration_s for v in CATALOG.videos]
    assert min(durations) >= 180 and max(durations) <= 7200
    assert {v.kind for v in CATALOG.videos} == set(Kind)
    assert sum(1 for v in CATALOG.videos if v.chapters) >= 10
    assert len({v.creator_id for v in CATALOG.videos}) >= 5


def test_series_and_courses_play_in_order() -> None:
    first = CATALOG.get("lighthouse-s01e08")
    nxt = CATALOG.next_after(first.video_id)
    assert nxt is not None and (nxt.season, nxt.episode) == (2, 1)
    lessons = CATALOG.sequence("course-py-data")
    assert [v.lesson_order for v in lessons] == list(range(1, len(lessons) + 1))
    assert len({v.module_id for v in lessons}) == 4
    assert CATALOG.next_after(lessons[-1].video_id) is None
    assert CATALOG.next_after("film-01") is None


def test_a_catalog_refuses_duplicate_ids() -> None:
    with pytest.raises(ValueError, match="unique"):
        Catalog([CATALOG.videos[0], CATALOG.videos[0]])


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


def test_live_viewers_arrive_so_the_rate_holds_from_the_first_seconds() -> None:
    load = measure_live_load(CATALOG)
    rate = 150.0
    viewers = load.viewers_for(rate)
    audience = Audience(CATALOG, size=viewers, seed=2, tag="t")
    per_10s: Counter[int] = Counter()
    for s in audience.live(
        NOW, NOW + timedelta(seconds=120), viewers, load.arrivals_ms(rate, viewers)
    ):
        if s.event is not None:
            per_10s[(s.at_ms - ms_of(NOW)) // 10_000] += 1
    rates = [per_10s[i] / 10 for i in range(12)]
    assert all(0.8 * rate <= r <= 1.2 * rate for r in rates), rates


# -- the truth on scripted viewers --------------------------------------------------------

VIDEO = CATALOG.get("short-01")  # a few minutes


def _player(truth_threshold: float | None = None) -> tuple[Player, list[Step], Truth]:
    viewer = Viewer(0, CATALOG, seed=1, tag="script")
    viewer.profile = dataclasses.replace(
        viewer.profile, rate_pm=1000, completion_threshold=truth_threshold
    )
    steps: list[Step] = []
    player = Player(viewer, VIDEO, viewer.profile.devices[0], ms_of(NOW), 0, "search", steps)
    player.emit("start", duration_s=VIDEO.duration_s)
    player.wait(400)
    player.emit("play")
    return player, steps, Truth([viewer.profile])


def _truth_of(steps: list[Step], truth: Truth) -> dict[str, Any]:
    for s in steps:
        truth.apply(s)
    (user,) = truth.to_json()["users"].values()
    return dict(user)


def test_a_pause_adds_no_watch_time() -> None:
    player, steps, truth = _player()
    player.play_for(30_000)
    player.emit("pause")
    player.wait(90_000)
    player.emit("play")
    player.play_for(20_000)
    player.emit("stop")
    user = _truth_of(steps, truth)
    video = user["videos"][VIDEO.video_id]
    assert video["watch_time_s"] == 50.0
    assert video["played_intervals"] == [[0.0, 50.0]]
    assert video["position_s"] == 50.0
    (session,) = user["sessions"]
    assert session["end"] == "stop" and session["startup_time_s"] == 0.4
    # No heartbeat during the pause.
    assert [s.kind for s in steps].count("heartbeat") == 3 + 2


def test_seeking_ahead_adds_no_coverage_and_seeking_back_adds_no_coverage_either() -> None:
    player, steps, truth = _player()
    player.play_for(20_000)
    player.seek(100_000)
    player.play_for(10_000)
    player.seek(5_000)
    player.play_for(10_000)
    player.emit("stop")
    video = _truth_of(steps, truth)["videos"][VIDEO.video_id]
    assert video["watch_time_s"] == 40.0
    assert video["played_intervals"] == [[0.0, 20.0], [100.0, 110.0]]
    assert video["coverage"] == pytest.approx(30.0 / VIDEO.duration_s)
    assert video["played_s"] == 40.0


def test_at_2x_a_media_second_takes_half_a_wall_second() -> None:
    player, steps, truth = _player()
    player.play_for(10_000)
    player.change_rate(2000)
    player.play_for(30_000)
    player.emit("stop")
    video = _truth_of(steps, truth)["videos"][VIDEO.video_id]
    assert video["watch_time_s"] == 40.0
    assert video["played_intervals"] == [[0.0, 70.0]]
    beats = [s.event for s in steps if s.kind == "heartbeat" and s.event is not None]
    assert [b["position_s"] for b in beats] == [10.0, 30.0, 50.0, 70.0]


def test_buffering_is_not_watching_but_is_rebuffer_time() -> None:
    player, steps, truth = _player()
    player.play_for(15_000)
    player.buffer(3_000)
    player.play_for(15_000)
    player.emit("stop")
    user = _truth_of(steps, truth)
    assert user["videos"][VIDEO.video_id]["watch_time_s"] == 30.0
    assert user["sessions"][0]["rebuffer_time_s"] == 3.0


def test_finishing_completes_a_cycle_and_a_rewatch_opens_the_next() -> None:
    player, steps, truth = _player()
    player.play_for(int(VIDEO.duration_s * 1000))
    player.emit("ended")
    player.emit("stop")
    viewer = player.viewer
    again = Player(viewer, VIDEO, player.device, player.t + 60_000, 0, "rewatch", steps)
    again.emit("start", duration_s=VIDEO.duration_s)
    again.emit("play")
    again.play_for(60_000)
    again.emit("stop")
    video = _truth_of(steps, truth)["videos"][VIDEO.video_id]
    assert video["completed_count"] == 1 and video["status"] == "completed"
    assert video["cycle"] == 1
    assert video["cycle_coverage"] == pytest.approx(60_000 / (VIDEO.duration_s * 1000))
    assert video["coverage"] == 1.0
    assert video["sessions"] == 2
    assert video["resume_position_s"] == 60.0


def test_a_cycle_completes_at_the_users_threshold() -> None:
    player, steps, truth = _player(truth_threshold=0.8)
    player.play_for(int(VIDEO.duration_s * 800) - 1_000)
    player.emit("pause")
    user = _truth_of(steps, truth)
    assert user["videos"][VIDEO.video_id]["completed_count"] == 0
    player.emit("play")
    player.play_for(1_000)
    player.emit("stop")
    truth2 = Truth([player.viewer.profile])
    video = _truth_of(steps, truth2)["videos"][VIDEO.video_id]
    assert video["completed_count"] == 1
    assert video["resume_position_s"] == 0.0  # completion clears the resume point


def test_leaving_without_a_word_counts_play_the_player_never_reported() -> None:
    player, steps, truth = _player()
    player.play_for(27_000)
    player.silent()
    user = _truth_of(steps, truth)
    reported = max(s.position_ms for s in steps if s.event is not None)
    assert reported == 20_000
    assert user["videos"][VIDEO.video_id]["watch_time_s"] == 27.0
    assert user["sessions"][0]["end"] == "idle"


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
