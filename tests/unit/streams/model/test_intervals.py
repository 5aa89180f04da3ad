"""Played media as sorted disjoint intervals: each second counts once."""

from __future__ import annotations

import pytest

from streams.model import intervals
from streams.model.intervals import Intervals


@pytest.mark.parametrize(
    ("start", "a", "b", "expected", "added"),
    [
        ((), 0, 10, ((0, 10),), 10),
        (((0, 10),), 10, 20, ((0, 20),), 10),  # touching merges
        (((0, 10),), 5, 15, ((0, 15),), 5),  # overlap adds only the new part
        (((0, 10),), 2, 8, ((0, 10),), 0),  # replaying a covered part adds nothing
        (((0, 10),), 20, 30, ((0, 10), (20, 30)), 10),
        (((0, 10), (20, 30)), 5, 25, ((0, 30),), 10),  # bridging two intervals
        (((10, 20), (30, 40)), 0, 5, ((0, 5), (10, 20), (30, 40)), 5),  # before everything
        (((10, 20), (30, 40), (50, 60)), 22, 28, ((10, 20), (22, 28), (30, 40), (50, 60)), 6),
        (((10, 20), (30, 40)), 0, 100, ((0, 100),), 80),
        (((0, 10),), 7, 7, ((0, 10),), 0),  # empty
    ],
)
def test_add_keeps_intervals_disjoint_and_reports_what_was_new(
    start: Intervals, a: int, b: int, expected: Intervals, added: int
) -> None:
    assert intervals.add(start, a, b) == (expected, added)
    assert intervals.length(expected) == intervals.length(start) + added


def test_union_merges_two_sets() -> None:
    assert intervals.union(((0, 10), (50, 60)), ((5, 20), (60, 70))) == ((0, 20), (50, 70))
    assert intervals.union((), ((1, 2),)) == ((1, 2),)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(0, 10, 10), (5, 15, 5), (15, 25, 5), (10, 20, 0), (0, 100, 20)],
)
def test_covered_measures_a_retention_bucket(a: int, b: int, expected: int) -> None:
    assert intervals.covered(((0, 10), (20, 30)), a, b) == expected


def test_clip_restricts_to_a_duration() -> None:
    assert intervals.clip(((0, 10), (20, 30), (40, 50)), 5, 25) == ((5, 10), (20, 25))


def test_cap_bounds_the_count_by_filling_the_smallest_gaps() -> None:
    ivs = ((0, 10), (11, 20), (30, 40), (45, 50))
    capped, added = intervals.cap(ivs, 2)
    assert capped == ((0, 20), (30, 50))
    assert added == 1 + 5
    assert intervals.cap(ivs, 4) == (ivs, 0)
