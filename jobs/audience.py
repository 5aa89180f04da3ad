"""The simulated audience: who watches what, when and how, and the truth of what they watched.

Pure: no I/O and no wall clock. Every viewer is a seeded behaviour model that turns a time
window into a *timeline* of ``Step``s in time order: the wire events a real player would send
(SPEC §3) plus silent steps where the viewer did something the player never reports (closing
the tab mid-video). Backfill and live runs use the same model; only the window differs, and
the driver in ``jobs.simulate`` decides when each step is released.

The ``Truth`` is built from the steps a run actually released, out of what the viewer did
(wall time spent playing, the media played), never from the pipeline's code, so tests can
hold the pipeline's figures to it within the tolerance of SPEC §4.1.

Times are integer milliseconds since the Unix epoch, media positions integer milliseconds
of media: the arithmetic of watch time and coverage is exact.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from jobs.demo_catalog import Catalog, CatalogEntry, Kind

HEARTBEAT_MS = 10_000  # SPEC §3: a heartbeat every 10 s of wall time while playing
DEFAULT_COMPLETION_THRESHOLD = 0.90
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

T = TypeVar("T")


class Odds(Generic[T]):
    """A weighted choice whose cumulative weights are summed once, not on every pick."""

    __slots__ = ("_cumulative", "_total", "values")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        pairs = list(pairs)
        self.values = tuple(v for v, _ in pairs)
        self._cumulative = tuple(itertools.accumulate(w for _, w in pairs))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect(self._cumulative, rng.random() * self._total)]


# Where viewers live, weighted roughly like a global English-speaking audience.
TIME_ZONES = Odds(
    [
        ("America/Los_Angeles", 14),
        ("America/Chicago", 8),
        ("America/New_York", 16),
        ("America/Sao_Paulo", 6),
        ("Europe/London", 12),
        ("Europe/Berlin", 11),
        ("Africa/Lagos", 4),
        ("Asia/Kolkata", 11),
        ("Asia/Singapore", 5),
        ("Asia/Tokyo", 7),
        ("Australia/Sydney", 6),
    ]
)
DEVICE_TYPES = Odds([("mobile", 40), ("desktop", 30), ("tv", 18), ("tablet", 12)])
DEVICES_PER_USER = Odds([(1, 45), (2, 40), (3, 15)])
APP_VERSIONS = {
    "mobile": ("ios-5.12.0", "android-5.11.3"),
    "desktop": ("web-2026.11.2",),
    "tv": ("tvos-3.4.1", "androidtv-3.3.0", "roku-2.9.0"),
    "tablet": ("ipados-5.12.0", "android-5.11.3"),
}
REFERRERS = Odds(
    [
        ("direct_link", 25),
        ("search", 25),
        ("home_feed", 20),
        ("daily_digest", 10),
        ("chat_reference", 10),
        ("course_page", 10),
    ]
)
RATES_PM = (1000, 1250, 1500, 2000)  # playback rates in per mille: exact integer arithmetic
USUAL_RATE = Odds(zip(RATES_PM, (80, 8, 8, 4), strict=True))
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
# Archetypes: how much of each kind of video a viewer picks.
TASTES = (
    Odds([(Kind.FILM, 0.55), (Kind.EPISODE, 0.25), (Kind.SHORT, 0.2)]),  # cinephile
    Odds([(Kind.FILM, 0.1), (Kind.EPISODE, 0.75), (Kind.SHORT, 0.15)]),  # binger
    Odds([(Kind.EPISODE, 0.1), (Kind.SHORT, 0.3), (Kind.LESSON, 0.6)]),  # student
    Odds([(Kind.FILM, 0.05), (Kind.EPISODE, 0.15), (Kind.SHORT, 0.7), (Kind.LESSON, 0.1)]),
    Odds([(Kind.FILM, 0.25), (Kind.EPISODE, 0.35), (Kind.SHORT, 0.2), (Kind.LESSON, 0.2)]),
)
# Local hours people start watching: mornings, lunch, and above all evenings.
START_HOURS = Odds(
    enumerate((1, 1, 0, 0, 0, 1, 2, 4, 4, 2, 2, 2, 4, 3, 2, 2, 3, 4, 6, 9, 11, 11, 8, 4))
)


def ms_of(t: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (truncated to the millisecond)."""
    return (t - EPOCH) // timedelta(milliseconds=1)


def datetime_of(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def iso(ms: int, tz: ZoneInfo | None = None) -> str:
    """RFC 3339 with milliseconds: ``Z`` for UTC, else the offset of ``tz`` at that instant."""
    t = datetime_of(ms)
    if tz is None:
        return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return t.astimezone(tz).isoformat(timespec="milliseconds")


def default_run_tag(seed: int, start: datetime) -> str:
    """A short tag that makes a run's ids unique, yet the same for the same seed and start."""
    return hashlib.blake2b(f"{seed}:{ms_of(start)}".encode(), digest_size=4).hexdigest()


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    device_type: str
    app_version: str
    local_ts: bool  # this app writes ts with the local UTC offset instead of Z


@dataclass(frozen=True, slots=True)
class Profile:
    """Who a viewer is: ids, where they live, their devices, habits and preferences."""

    user_id: str
    tz: str
    devices: tuple[Device, ...]
    referrer: str
    taste: Odds[Kind]
    activity: float  # probability of watching on a given day
    binge: float  # probability of playing the next episode or lesson after finishing one
    rate_pm: int  # usual playback rate, per mille
    completion_threshold: float | None  # sent as set_preferences when not None
    daily_goal_minutes: int | None  # sent as set_preferences when not None
    isolation: tuple[tuple[str, str], ...]  # (device_id, mode) sent as set_isolation

    @property
    def threshold(self) -> float:
        return self.completion_threshold or DEFAULT_COMPLETION_THRESHOLD


def make_profile(rng: random.Random, index: int, tag: str) -> Profile:
    user_id = f"u-{tag}-{index:05d}"
    n_devices = DEVICES_PER_USER.pick(rng)
    types: list[str] = []
    while len(types) < n_devices:
        t = DEVICE_TYPES.pick(rng)
        if t not in types:
            types.append(t)
    devices = tuple(
        Device(
            device_id=f"d-{tag}-{index:05d}-{k}",
            device_type=t,
            app_version=rng.choice(APP_VERSIONS[t]),
            local_ts=t == "tv" or rng.random() < 0.1,
        )
        for k, t in enumerate(types)
    )
    isolation: tuple[tuple[str, str], ...] = ()
    if n_devices > 1 and rng.random() < 0.15:
        isolation = ((devices[-1].device_id, rng.choice(("silo", "quiet", "shout", "loud"))),)
    return Profile(
        user_id=user_id,
        tz=TIME_ZONES.pick(rng),
        devices=devices,
        referrer=REFERRERS.pick(rng),
        taste=rng.choice(TASTES),
        activity=rng.uniform(0.35, 0.95),
        binge=rng.uniform(0.3, 0.9),
        rate_pm=USUAL_RATE.pick(rng),
        completion_threshold=rng.choice((0.8, 0.85, 0.95)) if rng.random() < 0.2 else None,
        daily_goal_minutes=rng.choice((15, 30, 45, 60)) if rng.random() < 0.3 else None,
        isolation=isolation,
    )


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """The playback session a step belongs to."""

    session_id: str
    video_id: str
    device_id: str
    duration_ms: int
    referrer: str


@dataclass(frozen=True, slots=True)
class Step:
    """One thing a viewer did at ``at_ms``: a wire event, or a silent step (``event`` None).

    ``played`` is what the viewer truly played since the session's previous step:
    (wall milliseconds, media from, media to). Silent steps (``kind == "idle"``) mark the
    viewer leaving without a word; they carry the play the player never reported.
    """

    at_ms: int
    user_id: str
    kind: str
    event: dict[str, Any] | None
    session: SessionInfo | None = None
    position_ms: int = 0
    played: tuple[int, int, int] | None = None


@dataclass(slots=True)
class _Memory:
    """What a viewer remembers of a video: where they were and whether they saw the end."""

    position_ms: int = 0
    finished: bool = False
    last_ms: int = 0


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
        self._memory: dict[str, _Memory] = {}
        self._following: dict[str, str] = {}  # series or course -> last finished video
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

    # -- sittings and sessions -------------------------------------------------------------

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
            at, finished = yield from self._session(entry, device, at, referrer)
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

    def _session(
        self, entry: CatalogEntry, device: Device, at: int, referrer: str
    ) -> Generator[Step, None, tuple[int, bool]]:
        """One video load, from ``start`` to its end; returns (end time, reached the end).

        Steps are yielded as the session unfolds, so a two-hour film is never held in memory.
        """
        rng = self.rng
        memory = self._memory.setdefault(entry.video_id, _Memory())
        duration = int(entry.duration_s * 1000)
        position = 0
        if not memory.finished and memory.position_ms < duration * 0.95 and rng.random() > 0.05:
            position = memory.position_ms
        out: list[Step] = []
        s = Player(self, entry, device, at, position, referrer, out)

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

        outcome, target = self._plan(entry, position, duration)
        s.emit("play")
        interrupt_at = s.t + self._gap_to_interruption(entry)
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
            stopped, target = self._interrupt(s, entry, target, duration)
            if stopped:
                yield from out
                memory.position_ms, memory.last_ms = s.pos, s.t
                return s.t, False
            interrupt_at = s.t + self._gap_to_interruption(entry)

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
            self._following[entry.sequence_id] = entry.video_id
        if finished and rng.random() < 0.15:
            s.wait(rng.randint(2_000, 20_000))
            rating = RATINGS.pick(rng)
            out.append(self._action(s.t, device, "rate", video_id=entry.video_id, rating=rating))
        yield from out
        return s.t, finished

    def _plan(self, entry: CatalogEntry, position: int, duration: int) -> tuple[str, int]:
        """How this session will end: (outcome, media position where the viewer stops)."""
        rng = self.rng
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

    def _gap_to_interruption(self, entry: CatalogEntry) -> int:
        mean_s = {Kind.FILM: 600, Kind.EPISODE: 400, Kind.LESSON: 120, Kind.SHORT: 120}
        return 1_000 + int(self.rng.expovariate(1.0 / mean_s[entry.kind]) * 1000)

    def _interrupt(
        self, s: Player, entry: CatalogEntry, target: int, duration: int
    ) -> tuple[bool, int]:
        """Pause, seek, change speed or stall; returns (session over, new target)."""
        rng = self.rng
        what = INTERRUPTIONS["lesson" if entry.kind is Kind.LESSON else "other"].pick(rng)
        if what == "pause":
            s.emit("pause")
            length = int(math.exp(rng.uniform(math.log(3_000), math.log(600_000))))
            if entry.kind in (Kind.LESSON, Kind.FILM) and rng.random() < 0.15:
                s.wait(1_000)
                self._out_action(
                    s,
                    "bookmark",
                    video_id=entry.video_id,
                    position_s=s.pos / 1000,
                    label="come back to this",
                )
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

    # -- choices ---------------------------------------------------------------------------

    def _choose(self) -> tuple[CatalogEntry, str]:
        """What to watch next, and how the viewer got there."""
        rng = self.rng
        r = rng.random()
        resumable = [
            (m.last_ms, vid)
            for vid, m in self._memory.items()
            if not m.finished and m.position_ms > 0
        ]
        if resumable and r < 0.35:
            return self.catalog.get(max(resumable)[1]), "continue_watching"
        if self._following and r < 0.65:
            seq = rng.choice(sorted(self._following))
            nxt = self.catalog.next_after(self._following[seq])
            if nxt is not None and seq not in self._avoid:
                return nxt, "up_next"
            del self._following[seq]
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
            out.append(self._action(at, device, "set_preferences", preferences=prefs))
            at += rng.randint(500, 5_000)
        for device_id, mode in p.isolation:
            dev = next(d for d in p.devices if d.device_id == device_id)
            out.append(self._action(at, dev, "set_isolation", mode=mode))
            at += rng.randint(500, 5_000)
        if rng.random() < 0.08:
            # Marks a season they saw elsewhere; they never play that series here.
            series, season = rng.choice(self.catalog.seasons())
            self._avoid.add(series)
            target = {"kind": "season", "series_id": series, "season": season}
            out.append(self._action(at, device, "mark_watched", target=target))
            at += rng.randint(500, 5_000)
        if rng.random() < 0.1:
            short = rng.choice(self.catalog.of_kind(Kind.SHORT))
            self._avoid.add(short.video_id)
            out.append(self._action(at, device, "skip", video_id=short.video_id))
            at += rng.randint(500, 5_000)
        return at + (rng.randint(1_000, 5_000) if out else 0)

    def _maybe_act(self, at: int, device: Device, out: list[Step]) -> int:
        if self.rng.random() < 0.05:
            entry = self.rng.choice(self.catalog.videos)
            out.append(
                self._action(
                    at,
                    device,
                    "queue_add",
                    video_id=entry.video_id,
                    priority=self.rng.randint(1, 10),
                )
            )
            at += self.rng.randint(1_000, 8_000)
        return at

    def _out_action(self, s: Player, type_: str, **fields: Any) -> None:
        s.out.append(self._action(s.t, s.device, type_, **fields))

    def _action(self, at: int, device: Device, type_: str, **fields: Any) -> Step:
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


class Player:
    """The player of one session: the playhead, the clock, and the events it sends.

    The playhead moves only while playing, at the playback rate; every event records what was
    played since the previous one, which is what the truth adds up. Scripted tests drive it
    directly.
    """

    def __init__(
        self,
        viewer: Viewer,
        entry: CatalogEntry,
        device: Device,
        at: int,
        position: int,
        referrer: str,
        out: list[Step],
    ) -> None:
        self.viewer = viewer
        self.device = device
        self.out = out
        self.t = self.last_t = at
        self.pos = self.last_pos = position
        self.duration = int(entry.duration_s * 1000)
        self.rate_pm = viewer.profile.rate_pm
        self.playing = False
        self._playing_before_buffer = False
        self.seq = 0
        self.info = SessionInfo(
            viewer.new_session_id(), entry.video_id, device.device_id, self.duration, referrer
        )
        self.context = {
            "device_type": device.device_type,
            "referrer": referrer,
            "app_version": device.app_version,
            "tz": viewer.profile.tz,
        }

    def wait(self, ms: int) -> None:
        self.advance_to(self.t + ms)

    def time_to(self, position: int) -> int:
        """When the playhead reaches ``position`` if nothing interrupts it."""
        if position <= self.pos:
            return self.t
        return self.t + -(-(position - self.pos) * 1000 // self.rate_pm)

    def advance_to(self, t: int) -> None:
        if self.playing:
            self.pos = min(self.duration, self.pos + (t - self.t) * self.rate_pm // 1000)
        self.t = t

    def _played(self) -> tuple[int, int, int] | None:
        if not self.playing:
            return None
        return (self.t - self.last_t, self.last_pos, self.pos)

    def emit(self, type_: str, **fields: Any) -> None:
        doc = self.viewer.event_doc(type_, self.t, self.device, self.context)
        doc.update(
            video_id=self.info.video_id,
            session_id=self.info.session_id,
            seq=self.seq,
            position_s=self.pos / 1000,
            duration_s=self.duration / 1000,
            playback_rate=self.rate_pm / 1000,
        )
        doc.update(fields)
        self.out.append(
            Step(self.t, doc["user_id"], type_, doc, self.info, self.pos, self._played())
        )
        self.seq += 1
        self.last_t, self.last_pos = self.t, self.pos
        if type_ == "play":
            self.playing = True
        elif type_ == "buffer_start":
            self._playing_before_buffer, self.playing = self.playing, False
        elif type_ == "buffer_end":
            self.playing = self._playing_before_buffer
        elif type_ in ("pause", "ended", "error", "stop"):
            self.playing = False

    def play_for(self, ms: int) -> None:
        """Play on for ``ms`` of wall time, with a heartbeat 10 s after the latest event."""
        end = self.t + ms
        while self.last_t + HEARTBEAT_MS <= end:
            self.advance_to(self.last_t + HEARTBEAT_MS)
            self.emit("heartbeat")
        self.advance_to(end)

    def buffer(self, ms: int) -> None:
        """Stall for ``ms``: the playhead stands still and no wall time counts as watching."""
        self.emit("buffer_start")
        self.wait(ms)
        self.emit("buffer_end")

    def change_rate(self, rate_pm: int) -> None:
        """Switch to ``rate_pm`` per mille; what was played before counts at the old rate."""
        self.rate_pm = rate_pm
        self.emit("rate_change")

    def seek(self, to: int) -> None:
        """A seek while playing: what was played up to here counts, the jump does not."""
        doc = self.viewer.event_doc("seek", self.t, self.device, self.context)
        doc.update(
            video_id=self.info.video_id,
            session_id=self.info.session_id,
            seq=self.seq,
            position_s=to / 1000,
            from_position_s=self.pos / 1000,
            duration_s=self.duration / 1000,
            playback_rate=self.rate_pm / 1000,
        )
        self.out.append(Step(self.t, doc["user_id"], "seek", doc, self.info, to, self._played()))
        self.seq += 1
        self.pos = to
        self.last_t, self.last_pos = self.t, self.pos

    def silent(self) -> None:
        """The viewer leaves without the player saying so (tab closed, battery died)."""
        user_id = self.viewer.profile.user_id
        self.out.append(Step(self.t, user_id, "idle", None, self.info, self.pos, self._played()))
        self.playing = False
        self.last_t, self.last_pos = self.t, self.pos


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


# -- the truth ------------------------------------------------------------------------------


class Spans:
    """A union of media intervals in ms, kept sorted and merged; ``total`` is its length."""

    __slots__ = ("spans", "total")

    def __init__(self) -> None:
        self.spans: list[list[int]] = []
        self.total = 0

    def add(self, a: int, b: int) -> None:
        if b <= a:
            return
        spans = self.spans
        if spans and spans[-1][0] <= a <= spans[-1][1]:
            last = spans[-1]  # the common case: playing on from where the last span ends
            if b > last[1]:
                self.total += b - last[1]
                last[1] = b
            return
        i = bisect.bisect_left(spans, a, key=_span_end)
        j, lo, hi = i, a, b
        while j < len(spans) and spans[j][0] <= hi:
            lo, hi = min(lo, spans[j][0]), max(hi, spans[j][1])
            self.total -= spans[j][1] - spans[j][0]
            j += 1
        spans[i:j] = [[lo, hi]]
        self.total += hi - lo

    def as_seconds(self) -> list[list[float]]:
        return [[a / 1000, b / 1000] for a, b in self.spans]


def _span_end(span: list[int]) -> int:
    return span[1]


@dataclass(slots=True)
class SessionTruth:
    session_id: str
    video_id: str
    device_id: str
    referrer: str
    cycle: int
    started_ms: int
    ended_ms: int
    position_start_ms: int
    position_end_ms: int
    end: str = "open"  # "stop", "idle" (left without a word) or "open" (run ended first)
    watch_ms: int = 0
    played_ms: int = 0
    played: Spans = field(default_factory=Spans)
    startup_ms: int | None = None
    rebuffer_ms: int = 0
    buffering_since: int | None = None
    errors: int = 0
    reached_end: bool = False
    completed: bool = False  # its cycle reached the completion threshold in this session


@dataclass(slots=True)
class VideoTruth:
    video_id: str
    duration_ms: int
    watch_ms: int = 0
    played_ms: int = 0
    covered: Spans = field(default_factory=Spans)
    cycle: int = 0
    cycle_covered: Spans = field(default_factory=Spans)
    cycle_complete: bool = False
    completed_count: int = 0
    sessions: int = 0
    position_ms: int = 0
    last_ms: int = 0

    @property
    def status(self) -> str:
        if self.completed_count:
            return "completed"
        return "watching" if self.played_ms else "unwatched"


@dataclass(slots=True)
class DayTruth:
    watch_ms: int = 0
    sessions: int = 0
    videos: set[str] = field(default_factory=set)
    completed: int = 0


@dataclass(slots=True)
class UserTruth:
    profile: Profile
    tz: ZoneInfo
    events: int = 0
    videos: dict[str, VideoTruth] = field(default_factory=dict)
    sessions: dict[str, SessionTruth] = field(default_factory=dict)
    days: dict[date, DayTruth] = field(default_factory=dict)
    actions: Counter[str] = field(default_factory=Counter)
    marked_watched: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ratings: dict[str, int] = field(default_factory=dict)
    isolation: dict[str, str] = field(default_factory=dict)

    def day(self, at_ms: int) -> DayTruth:
        d = datetime_of(at_ms).astimezone(self.tz).date()
        day = self.days.get(d)
        if day is None:
            day = self.days[d] = DayTruth()
        return day


class Truth:
    """What every viewer truly watched, from the steps a run released, in release order.

    The figures follow SPEC §4.1 and §4.2: watch time is wall time spent playing, coverage
    the union of media played (seeking adds none), a cycle completes when its coverage
    reaches the user's threshold, and a start on a completed cycle opens the next one.
    """

    def __init__(self, profiles: Sequence[Profile] | Callable[[str], Profile]) -> None:
        """``profiles``: the viewers, or how to find a viewer's profile by user_id."""
        if callable(profiles):
            self._profile = profiles
        else:
            known = {p.user_id: p for p in profiles}
            self._profile = known.__getitem__
        self.users: dict[str, UserTruth] = {}
        self.events = 0

    def apply(self, step: Step) -> None:
        user = self.users.get(step.user_id)
        if user is None:
            profile = self._profile(step.user_id)
            user = self.users[step.user_id] = UserTruth(profile, ZoneInfo(profile.tz))
        if step.event is not None:
            user.events += 1
            self.events += 1
        info = step.session
        if info is None:
            self._action(user, step)
            return
        video = user.videos.get(info.video_id)
        if video is None:
            video = user.videos[info.video_id] = VideoTruth(info.video_id, info.duration_ms)
        session = user.sessions.get(info.session_id)
        if session is None:
            if video.cycle_complete:  # a rewatch: a new cycle, coverage from zero
                video.cycle += 1
                video.cycle_covered = Spans()
                video.cycle_complete = False
            video.sessions += 1
            session = user.sessions[info.session_id] = SessionTruth(
                info.session_id, info.video_id, info.device_id, info.referrer, video.cycle,
                step.at_ms, step.at_ms, step.position_ms, step.position_ms,
            )  # fmt: skip
            user.day(step.at_ms).sessions += 1
        if step.played is not None:
            wall, a, b = step.played
            session.watch_ms += wall
            session.played_ms += b - a
            session.played.add(a, b)
            video.watch_ms += wall
            video.played_ms += b - a
            video.covered.add(a, b)
            video.cycle_covered.add(a, b)
            day = user.day(step.at_ms)
            day.watch_ms += wall
            day.videos.add(info.video_id)
            threshold = user.profile.threshold * video.duration_ms
            if not video.cycle_complete and video.cycle_covered.total >= threshold - 1e-6:
                video.cycle_complete = True
                video.completed_count += 1
                session.completed = True
                day.completed += 1
        kind = step.kind
        if kind == "play" and session.startup_ms is None:
            session.startup_ms = step.at_ms - session.started_ms
        elif kind == "buffer_start" and session.startup_ms is not None:
            session.buffering_since = step.at_ms
        elif kind == "buffer_end" and session.buffering_since is not None:
            session.rebuffer_ms += step.at_ms - session.buffering_since
            session.buffering_since = None
        elif kind == "error":
            session.errors += 1
        elif kind == "ended":
            session.reached_end = True
        elif kind in ("stop", "idle"):
            session.end = kind
        session.ended_ms = step.at_ms
        session.position_end_ms = step.position_ms
        video.position_ms = step.position_ms
        video.last_ms = step.at_ms

    def _action(self, user: UserTruth, step: Step) -> None:
        doc = step.event or {}
        user.actions[step.kind] += 1
        if step.kind == "mark_watched":
            user.marked_watched.append(dict(doc["target"]))
        elif step.kind == "skip":
            user.skipped.append(doc["video_id"])
        elif step.kind == "rate":
            user.ratings[doc["video_id"]] = doc["rating"]
        elif step.kind == "set_isolation":
            user.isolation[doc["device_id"]] = doc["mode"]

    def to_json(self, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """The documented truth file (docs/simulator.md): seconds, ISO times, local dates."""
        users = {uid: _user_json(u) for uid, u in self.users.items() if u.events}
        sessions = sum(len(u.sessions) for u in self.users.values())
        return {
            "schema": "watchflow-simulator-truth/1",
            **(meta or {}),
            "heartbeat_interval_s": HEARTBEAT_MS / 1000,
            "default_completion_threshold": DEFAULT_COMPLETION_THRESHOLD,
            "totals": {
                "users": len(users),
                "events": self.events,
                "sessions": sessions,
                "watch_time_s": sum(u["watch_time_s"] for u in users.values()),
                "completions": sum(
                    v.completed_count for u in self.users.values() for v in u.videos.values()
                ),
            },
            "users": users,
        }


def _user_json(u: UserTruth) -> dict[str, Any]:
    p = u.profile
    goal = p.daily_goal_minutes
    return {
        "tz": p.tz,
        "devices": [{"device_id": d.device_id, "device_type": d.device_type} for d in p.devices],
        "completion_threshold": p.threshold,
        "daily_goal_minutes": goal,
        "events": u.events,
        "watch_time_s": sum(v.watch_ms for v in u.videos.values()) / 1000,
        "videos": {vid: _video_json(v) for vid, v in u.videos.items()},
        "sessions": [_session_json(s) for s in u.sessions.values()],
        "daily": {
            d.isoformat(): {
                "watch_time_s": day.watch_ms / 1000,
                "sessions": day.sessions,
                "videos_watched": len(day.videos),
                "videos_completed": day.completed,
                "goal_met": None if goal is None else day.watch_ms >= goal * 60_000,
            }
            for d, day in sorted(u.days.items())
        },
        "actions": dict(u.actions),
        "marked_watched": u.marked_watched,
        "skipped": u.skipped,
        "ratings": u.ratings,
        "isolation": u.isolation,
    }


def _video_json(v: VideoTruth) -> dict[str, Any]:
    return {
        "duration_s": v.duration_ms / 1000,
        "status": v.status,
        "watch_time_s": v.watch_ms / 1000,
        "played_s": v.played_ms / 1000,
        "coverage": v.covered.total / v.duration_ms,
        "played_intervals": v.covered.as_seconds(),
        "cycle": v.cycle,
        "cycle_coverage": v.cycle_covered.total / v.duration_ms,
        "completed_count": v.completed_count,
        "position_s": v.position_ms / 1000,
        "resume_position_s": 0.0 if v.cycle_complete else v.position_ms / 1000,
        "sessions": v.sessions,
        "last_watched_at": iso(v.last_ms),
        "tolerance_s": v.sessions * HEARTBEAT_MS / 1000,
    }


def _session_json(s: SessionTruth) -> dict[str, Any]:
    return {
        "session_id": s.session_id,
        "video_id": s.video_id,
        "device_id": s.device_id,
        "referrer": s.referrer,
        "cycle": s.cycle,
        "started_at": iso(s.started_ms),
        "ended_at": iso(s.ended_ms),
        "end": s.end,
        "watch_time_s": s.watch_ms / 1000,
        "played_s": s.played_ms / 1000,
        "played_intervals": s.played.as_seconds(),
        "position_start_s": s.position_start_ms / 1000,
        "position_end_s": s.position_end_ms / 1000,
        "startup_time_s": None if s.startup_ms is None else s.startup_ms / 1000,
        "rebuffer_time_s": s.rebuffer_ms / 1000,
        "errors": s.errors,
        "reached_end": s.reached_end,
        "completed": s.completed,
    }
