"""Next up: per series the in-progress episode or the one after the highest watched; then
movies in progress; then queue items."""

from __future__ import annotations

from datetime import timedelta

from .player import T0, Player, event
from .world import World

_hours = iter(range(1, 10_000))


def finish(video: str, device: str = "d1") -> Player:
    at = T0 + timedelta(hours=next(_hours))
    p = Player(video=video, device=device, session=f"{video}-{device}", duration=1800, at=at)
    return p.start().watch(1800).stop()


def half(video: str, device: str = "d1", duration: float = 1800) -> Player:
    at = T0 + timedelta(hours=next(_hours))
    p = Player(video=video, device=device, session=f"{video}-{device}-h", duration=duration, at=at)
    return p.start().watch(duration / 2).stop()


def mark(type_: str, **target: object) -> object:
    return event(type_, target=target)


def test_after_the_last_episode_of_a_season_comes_the_next_season() -> None:
    w = World().play(finish("got-s1e1"), finish("got-s1e2"), finish("got-s1e3"))
    assert w.next_up("d1") == [("got-s2e1", "next_episode")]


def test_the_episode_in_progress_comes_first() -> None:
    w = World().play(finish("got-s1e1"), half("got-s1e2"))
    assert w.next_up("d1") == [("got-s1e2", "resume")]


def test_next_is_the_one_after_the_highest_watched_not_the_first_gap() -> None:
    w = World().play(finish("got-s1e1"), finish("got-s1e3"))
    assert w.next_up("d1") == [("got-s2e1", "next_episode")]


def test_a_series_finished_has_nothing_next() -> None:
    w = World().play(finish("bb-s1e1"), finish("bb-s1e2"))
    assert w.next_up("d1") == []


def test_marks_count_as_watched() -> None:
    w = World()
    w.event(mark("mark_watched", kind="season", series_id="got", season=1))
    assert w.next_up("d1") == [("got-s2e1", "next_episode")]
    w.event(mark("mark_watched", kind="series", series_id="bb"))
    assert w.next_up("d1") == [("got-s2e1", "next_episode")]  # bb is done


def test_unwatching_an_episode_brings_it_back_as_next() -> None:
    w = World().play(finish("got-s1e1"), finish("got-s1e2"))
    w.event(mark("mark_unwatched", kind="video", video_id="got-s1e2"))
    assert w.next_up("d1") == [("got-s1e2", "next_episode")]


def test_series_by_latest_activity_then_movies_then_queue_by_priority() -> None:
    w = World().play(finish("bb-s1e1"), half("m1", duration=5400), finish("got-s1e1"))
    w.event(event("queue_add", video_id="m3", priority=2))
    w.event(event("queue_add", video_id="m2", priority=9))
    w.event(event("queue_add", video_id="got-s1e1", priority=10))  # already watched
    assert w.next_up("d1") == [
        ("got-s1e2", "next_episode"),
        ("bb-s1e2", "next_episode"),
        ("m1", "movie"),
        ("m2", "queue"),
        ("m3", "queue"),
    ]


def test_a_silo_devices_progress_does_not_move_next_up_elsewhere() -> None:
    w = World()
    w.event(event("set_isolation", device_id="kid", mode="silo"))
    w.play(finish("got-s1e1", device="tv"), finish("got-s1e2", device="kid"))
    assert w.next_up("tv") == [("got-s1e2", "next_episode")]
    assert w.next_up("kid") == [("got-s1e3", "next_episode")]
    assert w.next_up(None) == [("got-s1e3", "next_episode")]


def test_a_quiet_device_moves_next_up_only_for_itself() -> None:
    w = World()
    w.event(event("set_isolation", device_id="phone", mode="quiet"))
    w.play(finish("got-s1e1", device="tv"), finish("got-s1e2", device="phone"))
    assert w.next_up("phone") == [("got-s1e3", "next_episode")]  # sees the tv's and its own
    assert w.next_up("tv") == [("got-s1e2", "next_episode")]  # the phone keeps quiet
