"""The simulated audience: a seeded population of viewers over one catalog, and their timelines
merged into one stream of ``Step``s in time order.

Pure: no I/O and no wall clock. Backfill (``history``) and live runs (``live``) use the same
viewers; only the window differs, and the driver in ``jobs.simulate`` decides when each step is
released. Where each part lives:

- ``jobs.timeline``: ``Step`` and time as integer milliseconds (``ms_of``, ``iso``);
- ``jobs.profiles``: who the viewers are; ``jobs.viewers``: what one of them does;
- ``jobs.watch_session`` and ``jobs.player``: how one video is watched;
- ``jobs.arrivals``: how fast live viewers should arrive to hold an event rate;
- ``jobs.truth``: what they truly watched, to hold the pipeline's figures to.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator, Sequence
from datetime import datetime

from jobs.demo_catalog import Catalog
from jobs.profiles import Profile
from jobs.timeline import HEARTBEAT_MS, Step, ms_of
from jobs.viewers import Viewer


def default_run_tag(seed: int, start: datetime) -> str:
    """A short tag that makes a run's ids unique, yet the same for the same seed and start."""
    return hashlib.blake2b(f"{seed}:{ms_of(start)}".encode(), digest_size=4).hexdigest()


class Audience:
    """A seeded population of viewers over one catalog; a viewer exists once first needed."""

    def __init__(self, catalog: Catalog, *, size: int, seed: int, tag: str) -> None:
        self.catalog = catalog
        self.size = size
        self.seed = seed
        self.tag = tag
        self._viewers: dict[int, Viewer] = {}
        self._by_user: dict[str, Viewer] = {}

    def viewer(self, index: int) -> Viewer:
        v = self._viewers.get(index)
        if v is None:
            if not 0 <= index < self.size:
                raise IndexError(f"viewer {index} of an audience of {self.size}")
            v = self._viewers[index] = Viewer(index, self.catalog, self.seed, self.tag)
            self._by_user[v.profile.user_id] = v
        return v

    def profile(self, user_id: str) -> Profile:
        """The profile of a viewer who has appeared in a timeline."""
        return self._by_user[user_id].profile

    @property
    def profiles(self) -> list[Profile]:
        """Every viewer's profile (which brings every viewer into being)."""
        return [self.viewer(i).profile for i in range(self.size)]

    def history(self, start: datetime, end: datetime, viewers: int | None = None) -> Iterator[Step]:
        """The first ``viewers`` viewers' lives from ``start`` to ``end``, merged in time order."""
        a, b = ms_of(start), ms_of(end)
        n = self.size if viewers is None else viewers
        # heapq.merge is stable, so one viewer's steps keep their order even on equal times.
        return heapq.merge(*(self.viewer(i).history(a, b) for i in range(n)), key=_at)

    def live(
        self,
        start: datetime,
        end: datetime,
        viewers: int | None = None,
        arrivals_ms: Sequence[int] | None = None,
    ) -> Iterator[Step]:
        """The first ``viewers`` viewers watching from ``start`` to ``end``, in time order.

        Viewer i arrives ``arrivals_ms[i]`` after ``start`` (by default at a moment of the first
        heartbeat interval) and comes into being only then, so a large audience that fills up
        over minutes costs memory only as it arrives.
        """
        a, b = ms_of(start), ms_of(end)
        n = self.size if viewers is None else viewers
        if arrivals_ms is None:
            arrivals_ms = [self.viewer(i).rng.randint(0, HEARTBEAT_MS) for i in range(n)]
        return self._arriving(a, b, arrivals_ms[:n])

    def _arriving(self, a: int, b: int, arrivals_ms: Sequence[int]) -> Iterator[Step]:
        order = sorted(range(len(arrivals_ms)), key=arrivals_ms.__getitem__)
        heap: list[tuple[int, int, Step, Iterator[Step]]] = []
        k = 0
        while True:
            # Admit everyone who arrives before the next step of those already here.
            while k < len(order) and (not heap or a + arrivals_ms[order[k]] <= heap[0][0]):
                i = order[k]
                if a + arrivals_ms[i] > b:
                    k = len(order)  # the rest arrive after the window, in no timeline
                    break
                k += 1
                timeline = self.viewer(i).live(a + arrivals_ms[i], b)
                first = next(timeline, None)
                if first is not None:
                    heapq.heappush(heap, (first.at_ms, i, first, timeline))
            if not heap:
                return
            _, i, step, timeline = heap[0]
            yield step
            following = next(timeline, None)
            if following is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (following.at_ms, i, following, timeline))


def _at(step: Step) -> int:
    return step.at_ms
