"""The vocabulary of a simulated viewer's timeline: ``Step``s, and time as integer milliseconds.

A timeline is a viewer's steps in time order: the wire events a real player would send
(SPEC §3) plus silent steps the player never reports. Times are integer milliseconds since the
Unix epoch, media positions integer milliseconds of media, so the arithmetic of watch time and
coverage is exact; ``ms_of``, ``datetime_of`` and ``iso`` convert at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

HEARTBEAT_MS = 10_000  # SPEC §3: a heartbeat every 10 s of wall time while playing
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
