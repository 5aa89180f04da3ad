"""Continue watching: resumable videos, latest first, within Jellyfin's bounds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streams.model.catalog import Catalog, VideoMeta
from streams.model.continue_watching import resumable
from streams.model.rules import Rules

from .player import T0, Player, event
from .world import World


@pytest.mark.parametrize(
    ("position_s", "duration_s", "listed"),
    [
        (20, 600, False),  # 3.3 %: too little to resume
        (30, 600, True),  # 5 %: the lower bound is inclusive
        (300, 600, True),
        (540, 600, True),  # 90 %: the upper bound is inclusive
        (546, 600, False),  # 91 %: as good as finished
        (100, 299, False),  # shorter than 5 minutes: never resumable
        (150, 300, True),
    ],
)
def test_the_resume_bounds(position_s: float, duration_s: float, listed: bool) -> None:
    assert resumable(round(position_s * 1000), round(duration_s * 1000)) is listed


def test_bounds_are_configurable() -> None:
    rules = Rules(resume_min_share=0.0, resume_max_share=0.95, resume_min_duration_s=60)
    assert resumable(10_000, 120_000, rules)
    assert resumable(112_000, 120_000, rules)


def watched(video: str, seconds: float, *, duration: float, hours_later: float) -> Player:
    at = T0 + timedelta(hours=hours_later)
    return (
        Player(video=video, session=video, duration=duration, at=at).start().watch(seconds).stop()
    )


def test_lists_watching_videos_latest_first_and_leaves_out_the_rest() -> None:
    cat = Catalog(
        VideoMeta(v, d) for v, d in [("a", 600), ("b", 600), ("c", 600), ("d", 120), ("e", 600)]
    )
    w = World(cat).play(
        watched("a", 120, duration=600, hours_later=0),
        watched("b", 300, duration=600, hours_later=2),
        watched("c", 600, duration=600, hours_later=3),  # completed
        watched("d", 60, duration=120, hours_later=4),  # too short
        watched("e", 10, duration=600, hours_later=5),  # under 5 %
    )
    assert w.cw(None) == ["b", "a"]


def test_a_skipped_video_leaves_continue_watching() -> None:
    cat = Catalog([VideoMeta("a", 600)])
    w = World(cat).play(watched("a", 120, duration=600, hours_later=0))
    assert w.cw("d1") == ["a"]
    w.event(event("skip", video_id="a"))
    assert w.cw("d1") == []


def test_a_rewatch_in_progress_is_not_listed_because_its_status_stays_completed() -> None:
    cat = Catalog([VideoMeta("a", 600)])
    w = World(cat).play(watched("a", 600, duration=600, hours_later=0))
    w.play(Player(video="a", session="again", at=T0 + timedelta(days=1)).start().watch(200).stop())
    assert w.cw(None) == []
