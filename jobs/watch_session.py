"""How a simulated viewer watches one video: a single player session, from load to stop.

Pure and seeded: ``watch`` draws from the viewer's ``random.Random`` how the session will end
(finish, stop, leave without a word, or fail), then plays it out through a ``Player``: startup
stalls, heartbeats, pauses, seeks, rate changes and buffering, and perhaps a rating afterwards.
It reads and updates what the viewer remembers of the video (``Memory``), so the next session
resumes where this one left off.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobs.demo_catalog import CatalogEntry, Kind
from jobs.player import Player
from jobs.profiles import RATES_PM, Device, Odds
from jobs.timeline import HEARTBEAT_MS, Step

if TYPE_CHECKING:
    import random

    from jobs.viewers import Viewer

RATINGS = Odds([(1, 1), (2, 2), (3, 5), (4, 9), (5, 8)])
# How a session that does not reach the end ends.
EARLY_ENDS = Odds([("stop", 60), ("idle", 37), ("error", 3)])
INTERRUPTIONS = {
    "lesson": Odds(
        [("pause", 45), ("seek_ahead", 12), ("seek_back", 13), ("rate", 10), ("buffer", 20)]
    ),
    "other": Odds(
        [("pause", 45), ("seek_ahead", 15), ("seek_back", 8), ("rate", 5), ("buffer", 27)]
    ),
}
ERRORS = (
    ("MEDIA_ERR_NETWORK", "segment download failed after 3 retries"),
    ("MEDIA_ERR_DECODE", "video decoder error"),
    ("DRM_LICENSE_FAILED", "license request timed out"),
)


@dataclass(slots=True)
class Memory:
    """What a viewer remembers of a video: where they were and whether they saw the end."""

    position_ms: int = 0
    finished: bool = False
    last_ms: int = 0


def watch(
    viewer: Viewer, entry: CatalogEntry, device: Device, at: int, referrer: str
) -> Generator[Step, None, tuple[int, bool]]:
    """One video load, from ``at`` to its end; returns (end time, reached the end).

    Steps are yielded as the session unfolds, so a two-hour film is never held in memory.
    """
    rng = viewer.rng
    memory = viewer.memory.setdefault(entry.video_id, Memory())
    duration = int(entry.duration_s * 1000)
    position = 0
    if not memory.finished and memory.position_ms < duration * 0.95 and rng.random() > 0.05:
        position = memory.position_ms
    out: list[Step] = []
    s = Player(viewer, entry, device, at, position, referrer, out)

    s.emit("start", duration_s=entry.duration_s, video=entry.video_info())
    s.wait(rng.randint(150, 900))
    if rng.random() < 0.25:
        s.buffer(rng.randint(400, 4_000))
        s.wait(rng.randint(50, 300))
    if rng.random() < 0.02:  # gave up before the first frame
        s.wait(rng.randint(1_000, 8_000))
        s.emit("stop")
        yield from out
        return s.t, False

    outcome, target = _plan(rng, entry, position, duration)
    s.emit("play")
    interrupt_at = s.t + _gap_to_interruption(rng, entry)
    while True:
        yield from out
        out.clear()
        reach = s.time_to(min(target, duration))
        beat = s.last_t + HEARTBEAT_MS
        if outcome == "idle" and reach <= beat:
            # Leave under 10 s of media after the latest event: what the player never
            # reported stays inside SPEC §4.1's tolerance, also at 2x.
            reach = max(s.t, min(reach, s.last_t + (HEARTBEAT_MS - 1) * 1000 // s.rate_pm))
        nxt = min(reach, beat, interrupt_at)
        s.advance_to(nxt)
        if nxt == reach:
            break
        if nxt == beat:
            s.emit("heartbeat")
            continue
        stopped, target = _interrupt(viewer, s, entry, target, duration)
        if stopped:
            yield from out
            memory.position_ms, memory.last_ms = s.pos, s.t
            return s.t, False
        interrupt_at = s.t + _gap_to_interruption(rng, entry)

    finished = s.pos >= duration
    if finished:
        s.emit("ended")
        s.wait(rng.randint(300, 3_000))
        s.emit("stop")
    elif outcome == "idle":
        s.silent()
    elif outcome == "error":
        code, message = rng.choice(ERRORS)
        s.emit("error", error={"code": code, "message": message})
        s.wait(rng.randint(1_000, 5_000))
        s.emit("stop")
    else:
        s.emit("stop")
    memory.position_ms, memory.last_ms = s.pos, s.t
    memory.finished = memory.finished or finished
    if finished and entry.sequence_id is not None:
        viewer.following[entry.sequence_id] = entry.video_id
    if finished and rng.random() < 0.15:
        s.wait(rng.randint(2_000, 20_000))
        rating = RATINGS.pick(rng)
        out.append(viewer.action(s.t, device, "rate", video_id=entry.video_id, rating=rating))
    yield from out
    return s.t, finished


def _plan(rng: random.Random, entry: CatalogEntry, position: int, duration: int) -> tuple[str, int]:
    """How this session will end: (outcome, media position where the viewer stops)."""
    finish_p = {Kind.FILM: 0.35, Kind.EPISODE: 0.7, Kind.LESSON: 0.75, Kind.SHORT: 0.75}
    if rng.random() < finish_p[entry.kind]:
        return "finish", duration
    remaining = duration - position
    if entry.kind is Kind.FILM:
        target = position + rng.randint(10, 60) * 60_000
    else:
        target = position + int(remaining * rng.uniform(0.1, 0.85))
    outcome = EARLY_ENDS.pick(rng)
    return outcome, min(target, duration)


def _gap_to_interruption(rng: random.Random, entry: CatalogEntry) -> int:
    mean_s = {Kind.FILM: 600, Kind.EPISODE: 400, Kind.LESSON: 120, Kind.SHORT: 120}
    return 1_000 + int(rng.expovariate(1.0 / mean_s[entry.kind]) * 1000)


def _interrupt(
    viewer: Viewer, s: Player, entry: CatalogEntry, target: int, duration: int
) -> tuple[bool, int]:
    """Pause, seek, change speed or stall; returns (session over, new target)."""
    rng = viewer.rng
    what = INTERRUPTIONS["lesson" if entry.kind is Kind.LESSON else "other"].pick(rng)
    if what == "pause":
        s.emit("pause")
        length = int(math.exp(rng.uniform(math.log(3_000), math.log(600_000))))
        if entry.kind in (Kind.LESSON, Kind.FILM) and rng.random() < 0.15:
            s.wait(1_000)
            bookmark = viewer.action(
                s.t,
                s.device,
                "bookmark",
                video_id=entry.video_id,
                position_s=s.pos / 1000,
                label="come back to this",
            )
            s.out.append(bookmark)
            length = max(length - 1_000, 1_000)
        if rng.random() < 0.06:  # walked away from the paused player
            if rng.random() < 0.5:
                s.silent()  # nothing after the pause: the session ends there
            else:
                s.wait(length)
                s.emit("stop")
            return True, target
        s.wait(length)
        s.emit("play")
    elif what == "seek_ahead" and s.pos + 40_000 < duration:
        jump = rng.randint(15_000, max(15_000, min(300_000, (duration - s.pos) // 3)))
        s.seek(min(s.pos + jump, duration - 5_000))
        target = min(target + jump, duration)
    elif what == "seek_back" and s.pos > 20_000:
        s.seek(max(0, s.pos - rng.randint(10_000, 90_000)))
    elif what == "rate":
        s.change_rate(rng.choice([r for r in RATES_PM if r != s.rate_pm]))
    else:
        s.buffer(rng.randint(400, 6_000))
    return False, target
