"""How fast live viewers should arrive: ``LiveLoad`` measures what one viewer sends, second by
second after arriving, and spreads arrivals so an audience holds a target event rate while it
fills up instead of sending a burst at the start.

Pure: ``measure_live_load`` runs a sample ``Audience`` on a fixed seed and start, never the
wall clock, so the same catalog always gives the same load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jobs.audience import Audience
from jobs.demo_catalog import Catalog
from jobs.timeline import ms_of


@dataclass(frozen=True, slots=True)
class LiveLoad:
    """What live viewers cost: how many a rate needs, and when they should arrive."""

    profile: tuple[float, ...]  # events/s of one viewer, by whole seconds since arriving
    steady: float  # events/s of one viewer after that, watching session after session

    def viewers_for(self, rate: float) -> int:
        return max(1, math.ceil(rate / self.steady))

    def arrivals_ms(self, rate: float, viewers: int, horizon_s: int = 3600) -> list[int]:
        """Arrival offsets that hold the total near ``rate`` while the audience fills up.

        Everyone arriving at once would send several times the rate in the first seconds
        (start, play, preferences) and then settle. Instead, each second admits just enough
        viewers to fill that second's shortfall, given what those already there will send.
        """
        expected = [0.0] * (horizon_s + len(self.profile))
        first_second = self.profile[0] if self.profile else self.steady
        out: list[int] = []
        settled = 0  # viewers past their profile, each sending ``steady``
        arrived_at: list[int] = []  # arrivals per second
        for t in range(horizon_s):
            if t >= len(self.profile):
                settled += arrived_at[t - len(self.profile)]
            shortfall = rate - expected[t] - settled * self.steady
            k = min(viewers - len(out), max(0, math.ceil(shortfall / first_second)))
            arrived_at.append(k)
            out.extend(t * 1000 + i * 1000 // max(k, 1) for i in range(k))
            for tau, p in enumerate(self.profile):
                expected[t + tau] += k * p
            if len(out) == viewers:
                break
        out.extend([horizon_s * 1000] * (viewers - len(out)))
        return out


def measure_live_load(catalog: Catalog, sample: int = 200, window_s: int = 900) -> LiveLoad:
    """Measure ``LiveLoad`` on a sample audience arriving together and watching ``window_s``."""
    audience = Audience(catalog, size=sample, seed=0, tag="calibrate")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    per_second = [0] * window_s
    for step in audience.live(start, start + timedelta(seconds=window_s), sample, [0] * sample):
        if step.event is not None:
            per_second[min((step.at_ms - ms_of(start)) // 1000, window_s - 1)] += 1
    head = 120
    steady = sum(per_second[head:]) / (sample * (window_s - head))
    return LiveLoad(tuple(n / sample for n in per_second[:head]), steady)
