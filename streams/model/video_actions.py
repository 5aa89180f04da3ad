"""User actions on one video's state: skip, mark watched / unwatched, rate, note, tag, bookmark.

Marks on a season, series or shelf are one write in the user's hierarchy (``hierarchy.py``)
and never touch video states; a mark on a single video is recorded in both places, so the
video's own status, cycle and resume point follow it (Jellyfin's "mark played" clears the
resume point; "mark unplayed" starts over).

Every action is idempotent on its own, and its event_id is remembered for a while, so a
redelivered ``mark_unwatched`` does not open yet another cycle.
"""

from __future__ import annotations

from ingest_api.contract import (
    BookmarkEvent,
    EventType,
    MarkEvent,
    MarkTargetKind,
    NoteEvent,
    RateEvent,
    SkipEvent,
    TagEvent,
)
from streams.model import personal
from streams.model.personal import Annotations, Bookmark, Note
from streams.model.rules import Rules
from streams.model.video_state import DeviceMark, VideoState, WatchStatus

VideoAction = MarkEvent | SkipEvent | RateEvent | NoteEvent | TagEvent | BookmarkEvent

_REMEMBERED_ACTIONS = 8


def video_of(ev: VideoAction) -> str | None:
    """The video whose state ``ev`` changes; None for marks on a season, series or shelf."""
    if isinstance(ev, MarkEvent):
        return ev.target.video_id if ev.target.kind is MarkTargetKind.VIDEO else None
    return ev.video_id


def apply(st: VideoState, ev: VideoAction, rules: Rules) -> VideoState:
    """Apply a user action to the video's state; a repeated event_id is a no-op."""
    if ev.event_id in st.acts:
        return st
    new = _apply(st, ev, rules)
    return new._replace(acts=(*new.acts, ev.event_id)[-_REMEMBERED_ACTIONS:])


def _apply(st: VideoState, ev: VideoAction, rules: Rules) -> VideoState:
    if isinstance(ev, MarkEvent):
        if ev.target.kind is not MarkTargetKind.VIDEO:
            return st
        return mark_watched(st) if ev.type is EventType.MARK_WATCHED else mark_unwatched(st)
    if isinstance(ev, SkipEvent):
        return skip(st)
    ann = st.ann or personal.NONE
    if isinstance(ev, RateEvent):
        ann = personal.rate(ann, ev.rating)
    elif isinstance(ev, TagEvent):
        ann = personal.tag(ann, ev.tag, remove=ev.remove, limit=rules.max_tags)
    elif isinstance(ev, NoteEvent):
        pos = None if ev.position_s is None else round(ev.position_s * 1000)
        t = round(ev.ts.timestamp() * 1000)
        ann = personal.note(ann, Note(ev.event_id, t, pos, ev.text), limit=rules.max_notes)
    else:
        mark = Bookmark(round(ev.position_s * 1000), ev.label)
        ann = personal.bookmark(ann, mark, remove=ev.remove, limit=rules.max_bookmarks)
    return st._replace(ann=_or_none(ann))


def _or_none(ann: Annotations) -> Annotations | None:
    return None if ann == personal.NONE else ann


def skip(st: VideoState) -> VideoState:
    """Skipped, unless already completed (a skip does not erase a completion)."""
    if st.status in (WatchStatus.COMPLETED, WatchStatus.SKIPPED):
        return st
    return st._replace(status=WatchStatus.SKIPPED)


def mark_watched(st: VideoState) -> VideoState:
    """Completed by the user's word: the cycle is complete, so the resume point is 0 and the
    next start is a rewatch. Not a playback completion: no milestone, completed_count kept."""
    if st.done and st.marked:
        return st
    return st._replace(status=WatchStatus.COMPLETED, done=True, marked=True)


def mark_unwatched(st: VideoState) -> VideoState:
    """Start over: a fresh cycle with no coverage, no resume point and status unwatched.

    Watch time and completed_count are history and stay. Sessions still open keep counting
    watch time but no longer count toward the (new) cycle's coverage.
    """
    fresh = not st.ms and not st.cov and not st.done and not st.marked
    if fresh and st.status is WatchStatus.UNWATCHED:
        return st
    return st._replace(
        status=WatchStatus.UNWATCHED,
        cycle=st.cycle if fresh else st.cycle + 1,
        done=False,
        ms=0,
        base=(),
        cov=(),
        cov_ms=0,
        marked=False,
        devs=tuple(DeviceMark(m.dev, 0, m.t, 0) for m in st.devs),
    )
