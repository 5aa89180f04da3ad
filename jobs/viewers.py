"""One simulated person, ``Viewer``: when they sit down to watch, what they choose, what else
they do, and the ids on everything they send.

Pure: no I/O and no wall clock. A viewer is seeded, turns a time window into a timeline of
``Step``s in time order, and carries its memory (resume points, series it follows) from one
window to the next, so a live window continues the history before it. How one video is
watched is ``jobs.watch_session``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jobs.demo_catalog import Catalog, CatalogEntry, Kind
from jobs.profiles import REFERRERS, START_HOURS, Device, make_profile
from jobs.timeline import Step, datetime_of, iso, ms_of
from jobs.watch_session import Memory, watch


class Viewer:
    """One simulated person; ``history`` and ``live`` yield their steps in time order.

    The viewer carries its memory (resume points, series it follows) from one window to the
    next, so a live window continues the history before it.
    """

    def __init__(self, index: int, catalog: Catalog, seed: int, tag: str) -> None:
        self.rng = random.Random(f"{seed}:{index}")
        self.profile = make_profile(self.rng, index, tag)
        self.catalog = catalog
        self._tz = ZoneInfo(self.profile.tz)
        self._prefix = f"{tag}-{index:05d}"
        self._events = 0
        self._sessions = 0
        self.memory: dict[str, Memory] = {}  # video -> what the viewer remembers of it
        self.following: dict[str, str] = {}  # series or course -> last finished video
        self._avoid: set[str] = set()  # videos and series skipped or marked watched
        self._introduced = False

    # -- windows ---------------------------------------------------------------------------

    def history(self, start_ms: int, until_ms: int) -> Iterator[Step]:
        """Days of ordinary life: a few sittings on most days, at local hours people watch."""
        rng = self.rng
        day = datetime_of(start_ms).astimezone(self._tz).date()
        last_end = start_ms
        while self._local_ms(day, 0) <= until_ms:
            if rng.random() < self.profile.activity:
                n = 1 + (rng.random() < 0.45) + (rng.random() < 0.15)
                hours = sorted(START_HOURS.pick(rng) for _ in range(n))
                for hour in hours:
                    at = self._local_ms(day, hour) + rng.randint(0, 3_599_999)
                    at = max(at, last_end + rng.randint(10, 90) * 60_000)
                    # Sittings start 3 h before the window ends, so hardly any is cut short.
                    if at < start_ms or at > until_ms - 3 * 3_600_000:
                        continue
                    budget = rng.randint(10, 100) * 60_000
                    for step in self._sitting(at, at + budget):
                        if step.at_ms > until_ms:
                            return
                        last_end = step.at_ms
                        yield step
            day += timedelta(days=1)

    def live(self, start_ms: int, until_ms: int) -> Iterator[Step]:
        """Watching right now: sitting after sitting from ``start_ms`` on."""
        at = start_ms
        while at <= until_ms:
            end = at
            for step in self._sitting(at, until_ms):
                if step.at_ms > until_ms:
                    return
                end = step.at_ms
                yield step
            at = end + self.rng.randint(3_000, 30_000)

    # -- sittings --------------------------------------------------------------------------

    def _sitting(self, at: int, budget_end: int) -> Iterator[Step]:
        """Sessions back to back on one device until the budget is spent."""
        rng = self.rng
        steps: list[Step] = []
        if not self._introduced:
            self._introduced = True
            at = self._introduce(at, steps)
        device = self._device_at(at)
        entry, referrer = self._choose()
        while True:
            at = self._maybe_act(at, device, steps)
            yield from steps
            steps.clear()
            at, finished = yield from watch(self, entry, device, at, referrer)
            if at >= budget_end:
                return
            following = self.catalog.next_after(entry.video_id) if finished else None
            if following is not None and rng.random() < self.profile.binge:
                entry, referrer = following, "up_next"
                at += rng.randint(5_000, 15_000)  # the autoplay countdown
            elif finished and rng.random() < 0.04:
                referrer = "rewatch"
                at += rng.randint(10_000, 120_000)
            else:
                entry, referrer = self._choose()
                at += rng.randint(10_000, 180_000)

    # -- choices ---------------------------------------------------------------------------

    def _choose(self) -> tuple[CatalogEntry, str]:
        """What to watch next, and how the viewer got there."""
        rng = self.rng
        r = rng.random()
        resumable = [
            (m.last_ms, vid)
            for vid, m in self.memory.items()
            if not m.finished and m.position_ms > 0
        ]
        if resumable and r < 0.35:
            return self.catalog.get(max(resumable)[1]), "continue_watching"
        if self.following and r < 0.65:
            seq = rng.choice(sorted(self.following))
            nxt = self.catalog.next_after(self.following[seq])
            if nxt is not None and seq not in self._avoid:
                return nxt, "up_next"
            del self.following[seq]
        kind = self.profile.taste.pick(rng)
        pool = [v for v in self.catalog.of_kind(kind) if not self._avoided(v)]
        if not pool:
            pool = [v for v in self.catalog.of_kind(Kind.SHORT) if not self._avoided(v)]
        entry = rng.choice(pool)
        if entry.sequence_id is not None and rng.random() < 0.7:
            entry = self.catalog.sequence(entry.sequence_id)[0]  # most start at the beginning
        referrer = "course_page" if kind is Kind.LESSON else self.profile.referrer
        if rng.random() < 0.4:
            referrer = REFERRERS.pick(rng)
        return entry, referrer

    def _avoided(self, v: CatalogEntry) -> bool:
        return v.video_id in self._avoid or (v.series_id or "") in self._avoid

    def _device_at(self, at: int) -> Device:
        hour = datetime_of(at).astimezone(self._tz).hour
        evening = 18 <= hour <= 23
        weight = {"tv": 6 if evening else 1, "tablet": 3 if evening else 1, "mobile": 3}
        devices = self.profile.devices
        return self.rng.choices(devices, [weight.get(d.device_type, 2) for d in devices])[0]

    # -- user actions ----------------------------------------------------------------------

    def _introduce(self, at: int, out: list[Step]) -> int:
        """First activity: preferences, device modes, and a few shelf-tidying actions."""
        rng, p = self.rng, self.profile
        device = p.devices[0]
        prefs: dict[str, Any] = {}
        if p.completion_threshold is not None:
            prefs["completion_threshold"] = p.completion_threshold
        if p.daily_goal_minutes is not None:
            prefs["daily_goal_minutes"] = p.daily_goal_minutes
        if p.rate_pm != 1000:
            prefs["playback_speed"] = p.rate_pm / 1000
        if prefs:
            prefs["tz"] = p.tz
            out.append(self.action(at, device, "set_preferences", preferences=prefs))
            at += rng.randint(500, 5_000)
        for device_id, mode in p.isolation:
            dev = next(d for d in p.devices if d.device_id == device_id)
            out.append(self.action(at, dev, "set_isolation", mode=mode))
            at += rng.randint(500, 5_000)
        if rng.random() < 0.08:
            # Marks a season they saw elsewhere; they never play that series here.
            series, season = rng.choice(self.catalog.seasons())
            self._avoid.add(series)
            target = {"kind": "season", "series_id": series, "season": season}
            out.append(self.action(at, device, "mark_watched", target=target))
            at += rng.randint(500, 5_000)
        if rng.random() < 0.1:
            short = rng.choice(self.catalog.of_kind(Kind.SHORT))
            self._avoid.add(short.video_id)
            out.append(self.action(at, device, "skip", video_id=short.video_id))
            at += rng.randint(500, 5_000)
        return at + (rng.randint(1_000, 5_000) if out else 0)

    def _maybe_act(self, at: int, device: Device, out: list[Step]) -> int:
        if self.rng.random() < 0.05:
            entry = self.rng.choice(self.catalog.videos)
            out.append(
                self.action(
                    at,
                    device,
                    "queue_add",
                    video_id=entry.video_id,
                    priority=self.rng.randint(1, 10),
                )
            )
            at += self.rng.randint(1_000, 8_000)
        return at

    def action(self, at: int, device: Device, type_: str, **fields: Any) -> Step:
        """A user action outside any playback session (preferences, shelf, rating, ...)."""
        doc = self.event_doc(
            type_,
            at,
            device,
            {
                "device_type": device.device_type,
                "app_version": device.app_version,
                "tz": self.profile.tz,
            },
        )
        doc.update(fields)
        return Step(at, self.profile.user_id, type_, doc)

    def event_doc(
        self, type_: str, at: int, device: Device, context: dict[str, str]
    ) -> dict[str, Any]:
        """The fields every event of this viewer carries, with a fresh event_id."""
        self._events += 1
        return {
            "event_id": f"e-{self._prefix}-{self._events:07d}",
            "type": type_,
            "ts": iso(at, self._tz if device.local_ts else None),
            "user_id": self.profile.user_id,
            "device_id": device.device_id,
            "context": context,
        }

    def _local_ms(self, day: date, hour: int) -> int:
        return ms_of(datetime(day.year, day.month, day.day, hour, tzinfo=self._tz))

    def new_session_id(self) -> str:
        """A fresh id: a player makes a new session each time it loads a video."""
        self._sessions += 1
        return f"s-{self._prefix}-{self._sessions:05d}"
