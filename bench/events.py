"""Realistic, valid player events for the benchmarks: serialised once, made unique cheaply.

A pool holds each event's JSON without ``event_id`` and ``ts``; a stream stitches a fresh
``event_id`` (unique per run) and a ``ts`` near now in front of it. What comes out is exactly
what the ingest API publishes to Kafka (orjson, compact, keys in wire order), so the ingest
benchmark and its aiokafka ceiling send the same bytes.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass

import orjson

# Mostly heartbeats, as a playing audience sends them.
EVENT_MIX = (("heartbeat", 70), ("play", 10), ("pause", 10), ("start", 10))
DEVICE_TYPES = ("tv", "mobile", "desktop", "tablet")
TIME_ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Europe/London",
    "America/Sao_Paulo",
    "Australia/Sydney",
)
REFERRERS = ("home", "search", "continue_watching", "next_up", "shelf")
APP_VERSIONS = ("5.12.3", "5.13.0", "5.11.9")


@dataclass(frozen=True, slots=True)
class EventPool:
    """Events without ``event_id`` and ``ts``: ``tails[i]`` is the JSON after them."""

    tails: list[bytes]
    keys: list[bytes]  # user_id of each event, the Kafka key


def make_pool(
    size: int = 20_000, users: int = 5_000, videos: int = 2_000, seed: int = 7
) -> EventPool:
    """``size`` valid playback events of ``users`` users on 1-3 devices each."""
    rng = random.Random(seed)
    types = [t for t, weight in EVENT_MIX for _ in range(weight)]
    tails: list[bytes] = []
    keys: list[bytes] = []
    seqs: dict[str, int] = {}
    for _ in range(size):
        u = rng.randrange(users)
        dev = rng.randrange(1 + u % 3)
        device_type = DEVICE_TYPES[(u + dev) % len(DEVICE_TYPES)]
        video = min(int((rng.paretovariate(1.2) - 1) * 50), videos - 1)  # a few are popular
        duration = 300.0 + (video * 37 % 3300)
        session = f"s-{u:06d}-{dev}-{video:05d}"
        seq = seqs[session] = seqs.get(session, -1) + 1
        kind = rng.choice(types)
        user_id = f"u-{u:07d}"
        doc = {
            "type": kind,
            "user_id": user_id,
            "device_id": f"d-{u:07d}-{device_type}-{dev}",
            "video_id": f"v-{video:06d}",
            "session_id": session,
            "seq": seq,
            "position_s": 0.0 if kind == "start" else round(rng.uniform(0, duration), 1),
            "duration_s": duration,
            "context": {
                "device_type": device_type,
                "app_version": APP_VERSIONS[u % len(APP_VERSIONS)],
                "tz": TIME_ZONES[u % len(TIME_ZONES)],
                "referrer": REFERRERS[(u + video) % len(REFERRERS)],
            },
        }
        tails.append(orjson.dumps(doc)[1:])  # without the opening brace
        keys.append(user_id.encode())
    return EventPool(tails, keys)


_second: list[tuple[int, bytes]] = [(-1, b"")]


def utc_now_iso() -> bytes:
    """Now as ``2026-11-21T10:00:00.123Z`` (the formatted second is reused: strftime is slow)."""
    ms = int(time.time() * 1000)
    second, text = _second[0]
    if ms // 1000 != second:
        second = ms // 1000
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        _second[0] = (second, text)
    return b"%s.%03dZ" % (text, ms % 1000)


class EventStream:
    """Endless events from a pool: each with an event_id no other stream of any run has."""

    def __init__(self, pool: EventPool, start: int = 0) -> None:
        self.pool = pool
        self.prefix = secrets.token_hex(4).encode()  # unique per run
        self._i = start

    @property
    def position(self) -> int:
        """How many events this stream has made."""
        return self._i

    def next(self, n: int) -> tuple[list[bytes], list[bytes]]:
        """The next ``n`` events as (keys, JSON values); all share a ``ts`` of now."""
        ts = utc_now_iso()
        tails, keys, size = self.pool.tails, self.pool.keys, len(self.pool.tails)
        start = self._i
        self._i += n
        prefix = self.prefix
        values = [
            b'{"event_id":"%s-%010d","ts":"%s",%s' % (prefix, i, ts, tails[i % size])
            for i in range(start, start + n)
        ]
        return [keys[i % size] for i in range(start, start + n)], values


def events_body(values: list[bytes]) -> bytes:
    """The ``POST /v1/events`` body carrying ``values``."""
    return b'{"events":[' + b",".join(values) + b"]}"
