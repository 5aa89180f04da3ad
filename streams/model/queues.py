"""A user's queues (seed 000): ordered lists of videos, each with a priority 1..10.

``position`` is a 0-based index in the queue (the contract allows 0); a position beyond the
end means "at the end". Adding a video already queued updates it in place (idempotent), so a
redelivered ``queue_add`` changes nothing. A full queue (``rules.max_queue_items``) refuses
new videos rather than silently dropping old ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

DEFAULT_PRIORITY = 5


@dataclass(frozen=True, slots=True)
class QueueItem:
    video_id: str
    priority: int = DEFAULT_PRIORITY
    added_ms: int = 0


Queue = tuple[QueueItem, ...]


def _index(q: Queue, video_id: str) -> int:
    return next((i for i, item in enumerate(q) if item.video_id == video_id), -1)


def add(
    q: Queue, video_id: str, *, position: int | None, priority: int | None, t_ms: int, limit: int
) -> Queue:
    """Queue a video at ``position`` (default: the end), or update it if already queued."""
    i = _index(q, video_id)
    if i >= 0:
        return move(q, video_id, position=position, priority=priority)
    if len(q) >= limit:
        return q
    item = QueueItem(video_id, priority or DEFAULT_PRIORITY, t_ms)
    at = len(q) if position is None else min(position, len(q))
    return (*q[:at], item, *q[at:])


def remove(q: Queue, video_id: str) -> Queue:
    i = _index(q, video_id)
    return q if i < 0 else (*q[:i], *q[i + 1 :])


def move(q: Queue, video_id: str, *, position: int | None, priority: int | None) -> Queue:
    """Move a queued video to ``position`` and/or change its priority; unknown videos: no-op."""
    i = _index(q, video_id)
    if i < 0:
        return q
    item = q[i] if priority is None else replace(q[i], priority=priority)
    rest = (*q[:i], *q[i + 1 :])
    at = i if position is None else min(position, len(rest))
    new = (*rest[:at], item, *rest[at:])
    return q if new == q else new


def by_priority(q: Queue) -> list[tuple[int, QueueItem]]:
    """Items with their position, highest priority first, then in queue order."""
    return sorted(enumerate(q), key=lambda p: (-p[1].priority, p[0]))
