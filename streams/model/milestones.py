"""Milestones: each at most once per (user, video, cycle), with a deterministic id (SPEC §4.3).

A cycle's milestones are a bitmask in the video state, so a milestone fires only when its bit
is clear, and replays of the same events meet the bit already set. ``milestone_id`` is a pure
function of (user, video, cycle, milestone), so a consumer that sees one twice (a worker
crashed between emitting and committing) drops the copy.

- ``started``: the cycle's first played second (the same moment status leaves ``unwatched``);
- ``progress_N``: cycle coverage reached N %;
- ``completed``: cycle coverage reached the user's completion threshold; records the
  threshold and the rule that chose it;
- ``rewatched``: a new cycle opened (a session started on a completed cycle).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from ingest_api.contract import MilestoneKind, MilestoneRecord
from streams.model.outputs import construct
from streams.model.rules import Threshold

STARTED = 1 << 0
PROGRESS_10 = 1 << 1
PROGRESS_25 = 1 << 2
PROGRESS_50 = 1 << 3
PROGRESS_75 = 1 << 4
PROGRESS_90 = 1 << 5
COMPLETED = 1 << 6
REWATCHED = 1 << 7

BIT: dict[MilestoneKind, int] = {
    MilestoneKind.STARTED: STARTED,
    MilestoneKind.PROGRESS_10: PROGRESS_10,
    MilestoneKind.PROGRESS_25: PROGRESS_25,
    MilestoneKind.PROGRESS_50: PROGRESS_50,
    MilestoneKind.PROGRESS_75: PROGRESS_75,
    MilestoneKind.PROGRESS_90: PROGRESS_90,
    MilestoneKind.COMPLETED: COMPLETED,
    MilestoneKind.REWATCHED: REWATCHED,
}
_PROGRESS: tuple[tuple[int, int], ...] = (
    (PROGRESS_10, 10),
    (PROGRESS_25, 25),
    (PROGRESS_50, 50),
    (PROGRESS_75, 75),
    (PROGRESS_90, 90),
)
_ALL_COVERAGE = STARTED | PROGRESS_10 | PROGRESS_25 | PROGRESS_50 | PROGRESS_75
_ALL_COVERAGE |= PROGRESS_90 | COMPLETED


def due(bits: int, cov_ms: int, dur_ms: int, threshold: float) -> int:
    """Coverage milestones reached by ``cov_ms`` of ``dur_ms`` whose bit is not yet in ``bits``."""
    if bits & _ALL_COVERAGE == _ALL_COVERAGE or cov_ms <= 0:
        return 0
    out = 0 if bits & STARTED else STARTED
    if dur_ms > 0:
        for bit, pct in _PROGRESS:
            if cov_ms * 100 < pct * dur_ms:
                break
            if not bits & bit:
                out |= bit
        # Half a millisecond of slack: 0.9 * 600000 is 540000.0000000001 in floating point.
        if not bits & COMPLETED and cov_ms >= threshold * dur_ms - 0.5:
            out |= COMPLETED
    return out


def kinds(bits: int) -> Iterator[MilestoneKind]:
    """The milestones in ``bits``, in the order a viewer reaches them."""
    for kind, bit in BIT.items():
        if bits & bit:
            yield kind


_KINDS_OF: tuple[tuple[MilestoneKind, ...], ...] = tuple(
    tuple(k for k, bit in BIT.items() if bits & bit) for bits in range(1 << len(BIT))
)


def kinds_of(bits: int) -> tuple[MilestoneKind, ...]:
    """``tuple(kinds(bits))``, looked up."""
    return _KINDS_OF[bits]


def milestone_id(user_id: str, video_id: str, cycle: int, kind: MilestoneKind) -> str:
    return f"{user_id}|{video_id}|{cycle}|{kind.value}"


def record(
    kind: MilestoneKind,
    *,
    user_id: str,
    video_id: str,
    cycle: int,
    t_ms: int,
    device_id: str,
    session_id: str | None,
    coverage: float,
    position_ms: int,
    watch_ms: int,
    threshold: Threshold | None,
    source_event_id: str,
) -> MilestoneRecord:
    """One watch-milestones record; ``threshold`` is given for ``completed`` only."""
    return construct(
        MilestoneRecord,
        milestone_id=milestone_id(user_id, video_id, cycle, kind),
        milestone=kind,
        user_id=user_id,
        video_id=video_id,
        cycle=cycle,
        ts=datetime.fromtimestamp(t_ms / 1000, UTC),
        device_id=device_id,
        session_id=session_id,
        coverage=round(coverage, 6),
        position_s=position_ms / 1000,
        watch_time_s=watch_ms / 1000,
        threshold=None if threshold is None else threshold.value,
        rule=None if threshold is None else threshold.rule.value,
        source_event_id=source_event_id,
    )
