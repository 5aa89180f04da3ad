"""Who the simulated viewers are: the odds their habits are drawn from, and their ``Profile``s.

Pure: ``make_profile`` draws a whole profile (ids, time zone, devices, tastes, preferences) from
a seeded ``random.Random``, so the same seed gives the same person.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from jobs.demo_catalog import Kind

DEFAULT_COMPLETION_THRESHOLD = 0.90

T = TypeVar("T")


class Odds(Generic[T]):
    """A weighted choice whose cumulative weights are summed once, not on every pick."""

    __slots__ = ("_cumulative", "_total", "values")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        pairs = list(pairs)
        self.values = tuple(v for v, _ in pairs)
        self._cumulative = tuple(itertools.accumulate(w for _, w in pairs))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect(self._cumulative, rng.random() * self._total)]


# Where viewers live, weighted roughly like a global English-speaking audience.
TIME_ZONES = Odds(
    [
        ("America/Los_Angeles", 14),
        ("America/Chicago", 8),
        ("America/New_York", 16),
        ("America/Sao_Paulo", 6),
        ("Europe/London", 12),
        ("Europe/Berlin", 11),
        ("Africa/Lagos", 4),
        ("Asia/Kolkata", 11),
        ("Asia/Singapore", 5),
        ("Asia/Tokyo", 7),
        ("Australia/Sydney", 6),
    ]
)
DEVICE_TYPES = Odds([("mobile", 40), ("desktop", 30), ("tv", 18), ("tablet", 12)])
DEVICES_PER_USER = Odds([(1, 45), (2, 40), (3, 15)])
APP_VERSIONS = {
    "mobile": ("ios-5.12.0", "android-5.11.3"),
    "desktop": ("web-2026.11.2",),
    "tv": ("tvos-3.4.1", "androidtv-3.3.0", "roku-2.9.0"),
    "tablet": ("ipados-5.12.0", "android-5.11.3"),
}
REFERRERS = Odds(
    [
        ("direct_link", 25),
        ("search", 25),
        ("home_feed", 20),
        ("daily_digest", 10),
        ("chat_reference", 10),
        ("course_page", 10),
    ]
)
RATES_PM = (1000, 1250, 1500, 2000)  # playback rates in per mille: exact integer arithmetic
USUAL_RATE = Odds(zip(RATES_PM, (80, 8, 8, 4), strict=True))
# Archetypes: how much of each kind of video a viewer picks.
TASTES = (
    Odds([(Kind.FILM, 0.55), (Kind.EPISODE, 0.25), (Kind.SHORT, 0.2)]),  # cinephile
    Odds([(Kind.FILM, 0.1), (Kind.EPISODE, 0.75), (Kind.SHORT, 0.15)]),  # binger
    Odds([(Kind.EPISODE, 0.1), (Kind.SHORT, 0.3), (Kind.LESSON, 0.6)]),  # student
    Odds([(Kind.FILM, 0.05), (Kind.EPISODE, 0.15), (Kind.SHORT, 0.7), (Kind.LESSON, 0.1)]),
    Odds([(Kind.FILM, 0.25), (Kind.EPISODE, 0.35), (Kind.SHORT, 0.2), (Kind.LESSON, 0.2)]),
)
# Local hours people start watching: mornings, lunch, and above all evenings.
START_HOURS = Odds(
    enumerate((1, 1, 0, 0, 0, 1, 2, 4, 4, 2, 2, 2, 4, 3, 2, 2, 3, 4, 6, 9, 11, 11, 8, 4))
)


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    device_type: str
    app_version: str
    local_ts: bool  # this app writes ts with the local UTC offset instead of Z


@dataclass(frozen=True, slots=True)
class Profile:
    """Who a viewer is: ids, where they live, their devices, habits and preferences."""

    user_id: str
    tz: str
    devices: tuple[Device, ...]
    referrer: str
    taste: Odds[Kind]
    activity: float  # probability of watching on a given day
    binge: float  # probability of playing the next episode or lesson after finishing one
    rate_pm: int  # usual playback rate, per mille
    completion_threshold: float | None  # sent as set_preferences when not None
    daily_goal_minutes: int | None  # sent as set_preferences when not None
    isolation: tuple[tuple[str, str], ...]  # (device_id, mode) sent as set_isolation

    @property
    def threshold(self) -> float:
        return self.completion_threshold or DEFAULT_COMPLETION_THRESHOLD


def make_profile(rng: random.Random, index: int, tag: str) -> Profile:
    user_id = f"u-{tag}-{index:05d}"
    n_devices = DEVICES_PER_USER.pick(rng)
    types: list[str] = []
    while len(types) < n_devices:
        t = DEVICE_TYPES.pick(rng)
        if t not in types:
            types.append(t)
    devices = tuple(
        Device(
            device_id=f"d-{tag}-{index:05d}-{k}",
            device_type=t,
            app_version=rng.choice(APP_VERSIONS[t]),
            local_ts=t == "tv" or rng.random() < 0.1,
        )
        for k, t in enumerate(types)
    )
    isolation: tuple[tuple[str, str], ...] = ()
    if n_devices > 1 and rng.random() < 0.15:
        isolation = ((devices[-1].device_id, rng.choice(("silo", "quiet", "shout", "loud"))),)
    return Profile(
        user_id=user_id,
        tz=TIME_ZONES.pick(rng),
        devices=devices,
        referrer=REFERRERS.pick(rng),
        taste=rng.choice(TASTES),
        activity=rng.uniform(0.35, 0.95),
        binge=rng.uniform(0.3, 0.9),
        rate_pm=USUAL_RATE.pick(rng),
        completion_threshold=rng.choice((0.8, 0.85, 0.95)) if rng.random() < 0.2 else None,
        daily_goal_minutes=rng.choice((15, 30, 45, 60)) if rng.random() < 0.3 else None,
        isolation=isolation,
    )
