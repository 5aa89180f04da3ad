"""A device gets its budget of events per second; a batch over budget is refused whole."""

from __future__ import annotations

import math

from ingest_api.rate_limit import RateLimiter


def test_a_device_within_its_rate_is_never_limited() -> None:
    limiter = RateLimiter(rate=10, burst=20)
    for second in range(100):
        assert limiter.take([("d1", 10)], now=float(second)) == 0.0


def test_a_burst_beyond_the_budget_waits_for_refill() -> None:
    limiter = RateLimiter(rate=10, burst=20)
    assert limiter.take([("d1", 20)], now=0.0) == 0.0
    assert limiter.take([("d1", 5)], now=0.0) == 0.5
    assert limiter.take([("d1", 5)], now=0.5) == 0.0


def test_devices_have_separate_budgets() -> None:
    limiter = RateLimiter(rate=1, burst=5)
    assert limiter.take([("d1", 5)], now=0.0) == 0.0
    assert limiter.take([("d2", 5)], now=0.0) == 0.0


def test_a_refused_batch_charges_no_device() -> None:
    limiter = RateLimiter(rate=1, burst=5)
    assert limiter.take([("d1", 4)], now=0.0) == 0.0
    assert limiter.take([("d1", 2), ("d2", 5)], now=0.0) > 0
    # d2 was not charged by the refused batch.
    assert limiter.take([("d2", 5)], now=0.0) == 0.0


def test_a_batch_larger_than_the_burst_can_never_fit() -> None:
    limiter = RateLimiter(rate=1, burst=5)
    assert math.isinf(limiter.take([("d1", 6)], now=0.0))


def test_zero_rate_disables_limiting() -> None:
    limiter = RateLimiter(rate=0, burst=0)
    assert limiter.take([("d1", 10_000)], now=0.0) == 0.0


def test_memory_stays_bounded_with_many_devices() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_keys=100)
    for i in range(10_000):
        limiter.take([(f"d{i}", 1)], now=i * 0.001)
    assert len(limiter._buckets) <= 100
