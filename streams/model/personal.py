"""A user's personal notes on one video (seed 000): rating, tags, notes, bookmarks.

Kept inside the (user, video) state but only when used, so the common state carries none.
Every operation is idempotent: a redelivered action leaves the value unchanged.
"""

from __future__ import annotations

from typing import NamedTuple


class Note(NamedTuple):
    event_id: str  # notes are keyed by the action's event_id, so a redelivery is a no-op
    t_ms: int
    pos_ms: int | None
    text: str


class Bookmark(NamedTuple):
    pos_ms: int
    label: str | None


class Annotations(NamedTuple):
    rating: int = 0  # 1..5, 0 = not rated
    tags: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()
    bookmarks: tuple[Bookmark, ...] = ()


NONE = Annotations()


def rate(a: Annotations, rating: int) -> Annotations:
    return a._replace(rating=rating)


def tag(a: Annotations, name: str, *, remove: bool, limit: int) -> Annotations:
    """Add (kept in first-added order, at most ``limit``) or remove a tag."""
    if remove:
        return a._replace(tags=tuple(t for t in a.tags if t != name))
    if name in a.tags or len(a.tags) >= limit:
        return a
    return a._replace(tags=(*a.tags, name))


def note(a: Annotations, n: Note, *, limit: int) -> Annotations:
    """Add a note; the oldest are dropped beyond ``limit``."""
    if any(x.event_id == n.event_id for x in a.notes):
        return a
    return a._replace(notes=(*a.notes, n)[-limit:])


def bookmark(a: Annotations, b: Bookmark, *, remove: bool, limit: int) -> Annotations:
    """Set, relabel or remove the bookmark at a position; sorted by position."""
    rest = tuple(x for x in a.bookmarks if x.pos_ms != b.pos_ms)
    if remove:
        return a._replace(bookmarks=rest)
    if len(rest) >= limit:
        return a
    return a._replace(bookmarks=tuple(sorted((*rest, b), key=lambda x: x.pos_ms)))
