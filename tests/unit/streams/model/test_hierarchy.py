"""Seed 004's hierarchical watched marks: one write per mark, four checks per read."""

from __future__ import annotations

import pytest

from streams.model import hierarchy
from streams.model.hierarchy import NO_MARKS, Level, Marks, Node

from .library import library

CAT = library()


def season(series: str, n: int) -> Node:
    return Node(Level.SEASON, series, n)


def series(s: str) -> Node:
    return Node(Level.SERIES, s)


def video(v: str) -> Node:
    return Node(Level.VIDEO, v)


def shelf(s: str) -> Node:
    return Node(Level.SHELF, s)


def watched(m: Marks, video_id: str) -> bool:
    meta = CAT.video(video_id)
    assert meta is not None
    return hierarchy.is_watched(m, meta)


def mark(*nodes: Node, m: Marks = NO_MARKS) -> Marks:
    for n in nodes:
        m = hierarchy.mark_watched(m, n, CAT)
    return m


def test_marking_a_season_watched_is_one_entry() -> None:
    m = mark(season("got", 1))
    assert m == Marks(seasons=frozenset({("got", 1)}))
    assert [watched(m, f"got-s1e{e}") for e in (1, 2, 3)] == [True, True, True]
    assert not watched(m, "got-s2e1")


@pytest.mark.parametrize(
    ("node", "video_id"),
    [
        (shelf("tv"), "got-s2e2"),
        (series("got"), "got-s2e2"),
        (season("got", 2), "got-s2e2"),
        (video("got-s2e2"), "got-s2e2"),
        (shelf("movies"), "m2"),
    ],
)
def test_is_watched_checks_shelf_series_season_and_episode(node: Node, video_id: str) -> None:
    assert watched(mark(node), video_id)
    assert not watched(NO_MARKS, video_id)


def test_marking_a_series_replaces_its_season_and_episode_marks() -> None:
    m = mark(video("got-s1e1"), season("got", 2), series("got"))
    assert m == Marks(series=frozenset({"got"}))


def test_marking_something_already_covered_writes_nothing() -> None:
    m = mark(season("got", 1))
    assert hierarchy.mark_watched(m, video("got-s1e2"), CAT) is m


def test_unwatching_an_episode_of_a_watched_season_expands_the_season() -> None:
    m = hierarchy.mark_unwatched(mark(season("got", 1)), video("got-s1e2"), CAT)
    assert m == Marks(videos=frozenset({"got-s1e1", "got-s1e3"}))
    assert not watched(m, "got-s1e2")
    assert watched(m, "got-s1e3")


def test_unwatching_an_episode_of_a_watched_series_expands_down_to_its_season() -> None:
    m = hierarchy.mark_unwatched(mark(series("got")), video("got-s2e1"), CAT)
    assert m == Marks(seasons=frozenset({("got", 1)}), videos=frozenset({"got-s2e2"}))


def test_unwatching_an_episode_of_a_watched_shelf_expands_every_level() -> None:
    m = hierarchy.mark_unwatched(mark(shelf("tv")), video("got-s1e1"), CAT)
    assert m == Marks(
        series=frozenset({"bb"}),
        seasons=frozenset({("got", 2)}),
        videos=frozenset({"got-s1e2", "got-s1e3"}),
    )


def test_unwatching_a_movie_of_a_watched_shelf_keeps_the_other_movies() -> None:
    m = hierarchy.mark_unwatched(mark(shelf("movies")), video("m2"), CAT)
    assert m == Marks(videos=frozenset({"m1", "m3"}))


def test_unwatching_a_season_drops_its_episode_marks() -> None:
    m = mark(video("got-s1e1"), video("got-s1e2"), video("got-s2e1"))
    m = hierarchy.mark_unwatched(m, season("got", 1), CAT)
    assert m == Marks(videos=frozenset({"got-s2e1"}))


def test_marking_the_last_episode_of_a_season_collapses_to_the_season() -> None:
    m = mark(video("got-s1e1"), video("got-s1e3"))
    assert len(m) == 2
    m = mark(video("got-s1e2"), m=m)
    assert m == Marks(seasons=frozenset({("got", 1)}))


def test_collapse_cascades_up_to_series_and_shelf() -> None:
    m = mark(season("got", 1), video("got-s2e1"), video("got-s2e2"))
    assert m == Marks(series=frozenset({"got"}))
    m = mark(season("bb", 1), m=m)
    assert m == Marks(shelves=frozenset({"tv"}))


def test_marks_of_videos_the_catalog_does_not_know_still_count() -> None:
    m = mark(video("unknown"))
    assert m.videos == {"unknown"}
    assert hierarchy.mark_unwatched(m, video("unknown"), CAT) == NO_MARKS
