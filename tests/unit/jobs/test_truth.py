"""The truth on scripted viewers: watch time is wall time spent playing, coverage the union of
media played, and a cycle completes at the user's threshold."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from jobs.demo_catalog import build_demo_catalog
from jobs.player import Player
from jobs.timeline import Step, ms_of
from jobs.truth import Truth
from jobs.viewers import Viewer

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CATALOG = build_demo_catalog()
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
