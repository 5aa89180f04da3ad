"""What the hot path measures about itself: recent samples of where an event's time goes.

``Batcher`` and ``EventBatches`` note, per fetch, per chunk folded and per flush, a few
figures (ms, or records); ``/stats/hot-path?since=<unix s>`` (``agents.install``) answers
their quantiles. The ages are from the record's Kafka timestamp (CreateTime: when the
producer sent it, a few ms before its acknowledgement) to a moment in this process, on the
same wall clock, so they are exact only when producer and worker share a clock.

| name | sampled | what |
|---|---|---|
| ``fetch_records`` | per fetch handed over | player-events records in it |
| ``fetch_age_ms`` | per fetch | age of its oldest record when the handler got it (broker + fetch) |
| ``fold_ms`` | per fetch | from handing it over to its last record folded (yields included) |
| ``visible_age_ms`` | per chunk folded | age of its first record once folded: reads show it |
| ``flush_records_ms`` | per flush | waiting for Kafka to acknowledge the flush's records |
| ``flush_store_ms`` | per flush | RocksDB write and changelog batches handed to the producer |
| ``flush_ms`` | per flush | begin to changelog acknowledged |
| ``flush_events`` | per flush | events whose state the flush made durable |
| ``durable_age_ms`` | per flush | age of its oldest event once its changelog is acknowledged |
| ``gc<n>_ms`` | per garbage collection (``watch_gc``) | its pause; n: the generation |

Bounded (the latest ``keep`` samples per name); a sample is two floats in a deque.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from collections.abc import Awaitable, Callable


class HotPathStats:
    def __init__(self, keep: int = 50_000, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._keep = keep
        self._samples: dict[str, deque[tuple[float, float]]] = {}

    def add(self, name: str, value: float, at: float | None = None) -> None:
        q = self._samples.get(name)
        if q is None:
            q = self._samples[name] = deque(maxlen=self._keep)
        q.append((self.clock() if at is None else at, value))

    def fetched(self, records: int, oldest_ts: int | None) -> float:
        """Note a fetch handed over (``oldest_ts``: its oldest record's Kafka timestamp, ms);
        the time now, to pass to ``folded``."""
        now = self.clock()
        self.add("fetch_records", records, now)
        if oldest_ts is not None:
            self.add("fetch_age_ms", now * 1000 - oldest_ts, now)
        return now

    def visible(self, ts: int | None) -> None:
        """Note a chunk folded (``ts``: its first record's Kafka timestamp, ms)."""
        if ts is not None:
            now = self.clock()
            self.add("visible_age_ms", now * 1000 - ts, now)

    def folded(self, began: float) -> None:
        """Note a fetch folded, handed over at ``began`` (``fetched``'s result)."""
        now = self.clock()
        self.add("fold_ms", (now - began) * 1000, now)

    def flushed(
        self,
        began: float,
        acked: float,
        stored: float,
        events: int,
        oldest_ts: int | None,
        changelog: Awaitable[object],
    ) -> None:
        """Note a flush: begun, its records acknowledged, its state stored (clock times);
        ``flush_ms`` and ``durable_age_ms`` once ``changelog`` completes without error."""
        self.add("flush_records_ms", (acked - began) * 1000, stored)
        self.add("flush_store_ms", (stored - acked) * 1000, stored)
        self.add("flush_events", events, stored)

        def durable(fut: asyncio.Future[object]) -> None:
            if fut.cancelled() or fut.exception() is not None:
                return  # the flush's failure is the producer's to report, not ours
            now = self.clock()
            self.add("flush_ms", (now - began) * 1000, now)
            if oldest_ts is not None:
                self.add("durable_age_ms", now * 1000 - oldest_ts, now)

        asyncio.ensure_future(changelog).add_done_callback(durable)

    def watch_gc(self) -> Callable[[], None]:
        """Sample every garbage collection's pause as ``gc<generation>_ms`` (a pause holds the
        loop: folds and reads wait it out); returns the function that stops it."""
        started = [0.0]

        def note(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                pause = (time.perf_counter() - started[0]) * 1000
                self.add(f"gc{info['generation']}_ms", pause)

        gc.callbacks.append(note)
        return lambda: gc.callbacks.remove(note)

    def summary(self, since: float = 0.0) -> dict[str, dict[str, float]]:
        """Per name, over the samples taken at or after ``since`` (unix s): count, mean,
        p50, p90, p99, max."""
        out: dict[str, dict[str, float]] = {}
        for name, q in self._samples.items():
            xs = sorted(v for at, v in q if at >= since)
            if not xs:
                continue
            n = len(xs)
            out[name] = {
                "count": n,
                "mean": round(sum(xs) / n, 3),
                "p50": round(xs[n // 2], 3),
                "p90": round(xs[min(n - 1, int(0.9 * n))], 3),
                "p99": round(xs[min(n - 1, int(0.99 * n))], 3),
                "max": round(xs[-1], 3),
            }
        return out
