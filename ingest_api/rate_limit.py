"""Per-device token buckets (seed 002 keeps rate limits per device, in memory).

Each API process keeps its own buckets, so behind N processes a device that always lands on
the same process gets the configured rate, and one spread evenly gets up to N times it; put
sticky routing by device (or user) in front when the limit must hold exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Allows ``rate`` events per second per key with bursts up to ``burst``.

    ``take`` is all-or-nothing across keys: a batch either fits every device's budget and is
    charged, or nothing is charged and the caller learns how long to wait.
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, costs: Iterable[tuple[str, int]], now: float) -> float:
        """Charge each key its cost; return 0.0 on success, else seconds until it would fit."""
        if not self.enabled:
            return 0.0
        wanted: dict[str, int] = {}
        for key, cost in costs:
            wanted[key] = wanted.get(key, 0) + cost
        wait = 0.0
        refreshed: list[tuple[_Bucket, int]] = []
        for key, cost in wanted.items():
            bucket = self._refill(key, now)
            if cost > self.burst:
                return math.inf
            if bucket.tokens < cost:
                wait = max(wait, (cost - bucket.tokens) / self.rate)
            refreshed.append((bucket, cost))
        if wait > 0:
            return wait
        for bucket, cost in refreshed:
            bucket.tokens -= cost
        return 0.0

    def _refill(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
            return bucket
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        return bucket

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled completely carries no information; dropping it is free.
        full_after = self.burst / self.rate
        for key in [k for k, b in self._buckets.items() if now - b.at >= full_after]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            # Still full: drop the oldest half rather than grow without bound.
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].at)
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]
