"""Milestones: which are due at a coverage, each once, with a deterministic id."""

from __future__ import annotations

import pytest

from ingest_api.contract import MilestoneKind
from streams.model import milestones
from streams.model.milestones import (
    COMPLETED,
    PROGRESS_10,
    PROGRESS_25,
    PROGRESS_50,
    PROGRESS_75,
    PROGRESS_90,
    STARTED,
)

DUR = 600_000


@pytest.mark.parametrize(
    ("bits", "cov_ms", "threshold", "expected"),
    [
        (0, 0, 0.9, 0),
        (0, 1, 0.9, STARTED),
        (0, 60_000, 0.9, STARTED | PROGRESS_10),
        (STARTED | PROGRESS_10, 60_000, 0.9, 0),  # already fired: never again
        (STARTED, 310_000, 0.9, PROGRESS_10 | PROGRESS_25 | PROGRESS_50),
        (
            0,
            540_000,
            0.9,
            STARTED
            | PROGRESS_10
            | PROGRESS_25
            | PROGRESS_50
            | PROGRESS_75
            | PROGRESS_90
            | COMPLETED,
        ),
        (0, 539_999, 0.9, STARTED | PROGRESS_10 | PROGRESS_25 | PROGRESS_50 | PROGRESS_75),
        (
            0,
            480_000,
            0.8,
            STARTED | PROGRESS_10 | PROGRESS_25 | PROGRESS_50 | PROGRESS_75 | COMPLETED,
        ),
    ],
)
def test_due_milestones_at_a_coverage(
    bits: int, cov_ms: int, threshold: float, expected: int
) -> None:
    assert milestones.due(bits, cov_ms, DUR, threshold) == expected


def test_without_a_duration_only_started_can_fire() -> None:
    assert milestones.due(0, 50_000, 0, 0.9) == STARTED


def test_milestone_ids_are_deterministic() -> None:
    assert milestones.milestone_id("u", "v", 2, MilestoneKind.PROGRESS_50) == "u|v|2|progress_50"


def test_kinds_are_listed_in_the_order_a_viewer_reaches_them() -> None:
    assert list(milestones.kinds(COMPLETED | STARTED | PROGRESS_50)) == [
        MilestoneKind.STARTED,
        MilestoneKind.PROGRESS_50,
        MilestoneKind.COMPLETED,
    ]


def test_the_looked_up_kinds_are_the_listed_ones_for_every_mask() -> None:
    for bits in range(1 << len(milestones.BIT)):
        assert milestones.kinds_of(bits) == tuple(milestones.kinds(bits))
