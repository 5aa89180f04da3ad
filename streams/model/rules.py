"""The numbers that define watch-state figures: thresholds, tolerances and bounds.

Every rule a product team may want to tune lives in ``Rules`` (built by the entrypoint from
settings and passed down); the completion threshold is per user, so it travels separately as a
``Threshold`` that also names the rule that produced it (SPEC §4.2, anchors "record which rule
fired").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_COMPLETION_THRESHOLD = 0.90


class ThresholdRule(StrEnum):
    """Where a completion threshold came from; recorded on every ``completed`` milestone."""

    USER_PREFERENCE = "user_preference"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Threshold:
    """Coverage (0..1) at which a cycle completes, and the rule that chose it."""

    value: float = DEFAULT_COMPLETION_THRESHOLD
    rule: ThresholdRule = ThresholdRule.DEFAULT


DEFAULT_THRESHOLD = Threshold()


@dataclass(frozen=True, slots=True)
class Rules:
    """Tunable rules of the watch-state model. Times in seconds, shares as 0..1."""

    # A session with no event for this long is over (SPEC §4.3: 30 min; Mux uses 60).
    idle_timeout_s: float = 30 * 60
    # A playhead may run this far ahead of wall time x rate between two events and still
    # count as played; beyond it the jump was a seek the player did not report (SPEC §4.1).
    jump_slack_s: float = 2.0
    # Out-of-order arrivals are re-folded from the last `window`..2*`window` points of the
    # open session; an event older than that is dropped (it is at least `window` events late).
    window: int = 8
    # Concurrent open sessions per (user, video); the least recent one is replaced beyond it.
    max_open_sessions: int = 3
    # Closed sessions remembered per (user, video), so their redelivered events are no-ops.
    closed_memory: int = 4
    # Devices remembered per (user, video) for isolation (least recent forgotten).
    max_devices: int = 8
    # Disjoint played intervals per cycle; beyond it the two closest merge (bounded state).
    max_intervals: int = 64
    # Continue watching (SPEC §4.4, Jellyfin MinResumePct / MaxResumePct /
    # MinResumeDurationSeconds).
    resume_min_share: float = 0.05
    resume_max_share: float = 0.90
    resume_min_duration_s: float = 300.0
    # Per-user bounds: recently active videos, series with progress, items per queue,
    # remembered action event ids.
    recent_videos: int = 200
    max_series: int = 200
    max_queue_items: int = 1000
    max_queues: int = 50
    seen_actions: int = 32
    # Per-video bounds for user annotations.
    max_notes: int = 50
    max_bookmarks: int = 100
    max_tags: int = 64

    # Derived, in the model's integer milliseconds.
    idle_ms: int = field(init=False, repr=False, compare=False)
    slack_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "idle_ms", round(self.idle_timeout_s * 1000))
        object.__setattr__(self, "slack_ms", round(self.jump_slack_s * 1000))


DEFAULT_RULES = Rules()
