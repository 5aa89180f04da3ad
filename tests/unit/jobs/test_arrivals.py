"""Live arrivals: an audience that fills up holds its event rate from the first seconds."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from jobs.arrivals import measure_live_load
from jobs.audience import Audience
from jobs.demo_catalog import build_demo_catalog
from jobs.timeline import ms_of

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CATALOG = build_demo_catalog()


def test_live_viewers_arrive_so_the_rate_holds_from_the_first_seconds() -> None:
    load = measure_live_load(CATALOG)
    rate = 150.0
    viewers = load.viewers_for(rate)
    audience = Audience(CATALOG, size=viewers, seed=2, tag="t")
    per_10s: Counter[int] = Counter()
    for s in audience.live(
        NOW, NOW + timedelta(seconds=120), viewers, load.arrivals_ms(rate, viewers)
    ):
        if s.event is not None:
            per_10s[(s.at_ms - ms_of(NOW)) // 10_000] += 1
    rates = [per_10s[i] / 10 for i in range(12)]
    assert all(0.8 * rate <= r <= 1.2 * rate for r in rates), rates
