"""Keeping the worker's long-lived objects out of CPython's cyclic garbage collector.

The worker keeps a decoded state per open session (``streams.idle``), the catalog and its
caches: many small container objects, each state replaced by its key's next event. A young
collection scans every tracked object made since the previous collection that is still
alive, which here is mostly those states, at ~1 µs an object on this kind of machine: under
load, young collections paused the loop 40-50 ms about once a second (a flash crowd of new
viewers, far more often), the largest part of the latency tail at 70 % of the worker's rate.

So what is still alive after each flush is frozen (``gc.freeze``: the generations are spliced
onto the permanent one, O(1)) and is never scanned again. Frozen objects are still freed by
reference counting when they die; what freezing keeps from the collector is *cyclic* garbage
made before it. The worker's steady state makes none (its young collections under load
collected nothing), error paths and rebalances may. So everything is unfrozen and collected
in full, then frozen again, once the input has been quiet for ``quiet_s``, at most every
``full_every_s``; and under load that never lets up, after ``longest_s`` regardless (that
one pause, ~0.2 s per ~10k open sessions here, lands in the traffic).
"""

from __future__ import annotations

import gc
from typing import Protocol


class Gc(Protocol):
    """The parts of the ``gc`` module used here (a fake in tests)."""

    def freeze(self) -> None: ...

    def unfreeze(self) -> None: ...

    def collect(self) -> int: ...


class Collector:
    def __init__(
        self,
        now: float,
        *,
        quiet_s: float = 5.0,
        full_every_s: float = 600.0,
        longest_s: float = 3600.0,
        collector: Gc = gc,
    ) -> None:
        self.quiet_s = quiet_s
        self.full_every_s = full_every_s
        self.longest_s = longest_s
        self._gc = collector
        self._last_full = now
        self._quiet_since = now
        self._folded = -1

    def flushed(self) -> None:
        """A flush is done: what is alive now leaves the collector's scans."""
        self._gc.freeze()

    def tick(self, now: float, folded: int) -> int | None:
        """Call now and then (a timer) with how many events the worker has folded so far;
        collects everything in full when due (module doc): the objects collected, else None."""
        if folded != self._folded:
            self._folded, self._quiet_since = folded, now
        since = now - self._last_full
        quiet = now - self._quiet_since >= self.quiet_s
        if since < self.longest_s and not (quiet and since >= self.full_every_s):
            return None
        return self.full(now)

    def full(self, now: float) -> int:
        """Unfreeze, collect everything, freeze again; the objects collected."""
        self._last_full = now
        self._gc.unfreeze()
        try:
            return self._gc.collect()
        finally:
            self._gc.freeze()
