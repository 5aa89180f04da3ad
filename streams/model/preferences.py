"""A user's settings (seed 000's ``preferences``), as ``set_preferences`` leaves them.

Only the completion threshold changes watch state; the rest is kept for the warehouse and the
summary API (daily goal, time zone) and for players (preferred speed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ingest_api.contract import Preferences
from streams.model.rules import DEFAULT_THRESHOLD, Threshold, ThresholdRule


@dataclass(frozen=True, slots=True)
class Prefs:
    completion_threshold: float | None = None
    daily_goal_minutes: int | None = None
    tz: str | None = None
    playback_speed: float | None = None


NO_PREFS = Prefs()


def apply(prefs: Prefs, update: Preferences) -> Prefs:
    """Merge the preferences an event sets; fields it does not mention keep their value."""
    changes = {name: getattr(update, name) for name in update.model_fields_set}
    new = replace(prefs, **changes)
    return prefs if new == prefs else new


def completion_threshold(prefs: Prefs) -> Threshold:
    """The user's completion rule: their own threshold if they set one, else the default."""
    if prefs.completion_threshold is None:
        return DEFAULT_THRESHOLD
    return Threshold(prefs.completion_threshold, ThresholdRule.USER_PREFERENCE)
