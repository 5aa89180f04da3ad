"""A small, realistic warehouse for the analytics API's tests: ten days, five videos, twelve
viewers, written through the real tier-1 writer and rolled up by the real rollup.

``build(data_dir)`` returns ``Sample``: what was written, so tests compute the expected figures
from the inputs rather than from the SQL under test.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tests.unit.warehouse.wh_builders import Batch, milestone, prefs, video
from warehouse import rollups
from warehouse.store import Store

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
FIRST_DAY = date(2024, 3, 1)
DAYS = [FIRST_DAY + timedelta(days=i) for i in range(10)]
VIDEOS = {  # video_id: (title, creator, duration_s)
    "v1": ("Stream processing 101", "c1", 600.0),
    "v2": ("Windows and watermarks", "c1", 900.0),
    "v3": ("Kafka from scratch", "c2", 1200.0),
    "v4": ("Exactly once, really", "c2", 480.0),
    "v5": ("Office hours", "c3", 1800.0),
}
WEIGHTS = [8, 5, 4, 2, 1]
USERS = [f"u{i}" for i in range(1, 13)]
STREAKER = "u1"  # Paris, 10-minute goal, watches 15 minutes every day
_STEPS = (
    ("started", 0.0),
    ("progress_25", 0.25),
    ("progress_50", 0.5),
    ("progress_75", 0.75),
    ("progress_90", 0.9),
)


@dataclass(frozen=True)
class View:
    user: str
    video: str
    day: date
    watch_s: float
    fraction: float
    startup_s: float
    completed: bool


@dataclass
class Sample:
    data_dir: Path
    views: list[View] = field(default_factory=list)
    funnel: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def of(self, video_id: str) -> list[View]:
        return [v for v in self.views if v.video == video_id]


def build(data_dir: Path) -> Sample:
    """Write the sample into ``data_dir`` (tier 1, then one rollup) and describe it."""
    store = Store.open(data_dir)
    rng = random.Random(20240310)
    sample = Sample(data_dir)
    cycles: Counter[tuple[str, str]] = Counter()
    batch = Batch()
    batch.catalog += [
        video(
            vid,
            duration,
            title=title,
            creator_id=creator,
            channel=f"{creator}-channel",
            course_id="k1" if creator == "c1" else None,
            module_id="m1" if creator == "c1" else None,
        )
        for vid, (title, creator, duration) in VIDEOS.items()
    ]
    batch.events.append(
        prefs(STREAKER, datetime(2024, 2, 1, tzinfo=UTC), tz="Europe/Paris", daily_goal_minutes=10)
    )
    for n_day, day in enumerate(DAYS):
        plan = [(STREAKER, "v1", 1.0)] + [
            (rng.choice(USERS), rng.choices(list(VIDEOS), WEIGHTS)[0], rng.random())
            for _ in range(6 + n_day)
        ]
        for i, (user, vid, fraction) in enumerate(plan):
            duration = VIDEOS[vid][2]
            started = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
                hours=8, minutes=7 * i
            )
            played = duration * fraction if user != STREAKER else 900.0
            fraction = min(1.0, played / duration)
            completed = fraction >= 0.9
            startup = round(0.3 + 2.5 * rng.random() ** 2, 3)
            batch.view(
                user,
                f"s{n_day}-{i}",
                started,
                video=vid,
                duration=duration,
                watch=played,
                startup=startup,
                rebuffer=round(played * 0.01 * rng.random(), 3),
                intervals=[(0.0, min(played, duration))],
                completed=completed,
            )
            cycle = cycles[(user, vid)]
            cycles[(user, vid)] += 1
            for step, at in (*_STEPS, ("completed", 0.9)):
                if fraction >= at and (step != "completed" or completed):
                    batch.milestones.append(
                        milestone(
                            user, vid, step, started + timedelta(seconds=played * at), cycle=cycle
                        )
                    )
                    sample.funnel[vid][step] += 1
            sample.views.append(View(user, vid, day, played, fraction, startup, completed))
    batch.write(store)
    rollups.run(store)
    return sample
