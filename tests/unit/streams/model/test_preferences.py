"""The completion rule: the user's own threshold when set, else the default 0.90."""

from __future__ import annotations

from ingest_api.contract import Preferences
from streams.model import preferences
from streams.model.preferences import NO_PREFS
from streams.model.rules import Threshold, ThresholdRule


def test_the_default_rule_applies_until_the_user_sets_a_threshold() -> None:
    assert preferences.completion_threshold(NO_PREFS) == Threshold(0.9, ThresholdRule.DEFAULT)
    prefs = preferences.apply(NO_PREFS, Preferences(completion_threshold=0.8))
    assert preferences.completion_threshold(prefs) == Threshold(0.8, ThresholdRule.USER_PREFERENCE)


def test_setting_one_preference_keeps_the_others() -> None:
    prefs = preferences.apply(NO_PREFS, Preferences(playback_speed=1.5, tz="Asia/Tokyo"))
    prefs = preferences.apply(prefs, Preferences(daily_goal_minutes=20))
    assert (prefs.playback_speed, prefs.tz, prefs.daily_goal_minutes) == (1.5, "Asia/Tokyo", 20)
