"""Next up (SPEC §4.4, seed 004): what to play next on a device.

1. Per series with activity or marks, most recently active first: the in-progress episode if
   any (resumable as in continue watching); else the first episode after the highest watched
   one, by (season, episode). "Watched" is an explicit mark (``hierarchy``) or a playback
   completion on a device visible from the asking one (``devices``). A series whose last
   episode is watched has nothing next (Jellyfin's default, ``enableRewatching`` off).
2. Movies in progress, latest first.
3. Queue items, highest priority first, then in queue order, skipping what is watched,
   skipped or already listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from streams.model import hierarchy, queues
from streams.model.catalog import CatalogView
from streams.model.continue_watching import ResumeItem, StateOf, resume_item
from streams.model.devices import view_on, visible
from streams.model.hierarchy import Level, Node
from streams.model.rules import DEFAULT_RULES, Rules
from streams.model.user_state import UserState
from streams.model.video_state import WatchStatus, utc


class Reason(StrEnum):
    RESUME = "resume"  # an episode in progress
    NEXT_EPISODE = "next_episode"
    MOVIE = "movie"  # a movie in progress
    QUEUE = "queue"


@dataclass(frozen=True, slots=True)
class NextUpItem:
    video_id: str
    reason: Reason
    series_id: str | None = None
    position_s: float = 0.0
    last_activity_ms: int = 0
    queue_id: str | None = None

    @property
    def last_activity(self) -> datetime | None:
        return utc(self.last_activity_ms)


def next_up(
    user: UserState,
    viewer: str | None,
    catalog: CatalogView,
    states: StateOf,
    rules: Rules = DEFAULT_RULES,
    limit: int = 20,
) -> list[NextUpItem]:
    """Next up on device ``viewer`` (None: the user across every device)."""
    in_progress: dict[str, ResumeItem] = {}
    for video_id, _ in user.recent:
        st = states(video_id)
        item = None if st is None else resume_item(video_id, st, viewer, user, catalog, rules)
        if item is not None:
            in_progress[video_id] = item

    shows: list[NextUpItem] = []
    for sid in _series_ids(user, catalog):
        show = _for_series(sid, user, viewer, catalog, in_progress)
        if show is not None:
            shows.append(show)
    shows.sort(key=lambda i: -i.last_activity_ms)
    out = list(shows)
    movies = [
        NextUpItem(i.video_id, Reason.MOVIE, None, i.position_s, i.last_activity_ms)
        for i in in_progress.values()
        if not _is_episode(i.video_id, catalog)
    ]
    movies.sort(key=lambda i: -i.last_activity_ms)
    out += movies
    listed = {i.video_id for i in out}
    for queue_id in sorted(user.queues):
        for _, q in queues.by_priority(user.queues[queue_id]):
            if q.video_id in listed or _done(q.video_id, user, viewer, catalog, states):
                continue
            listed.add(q.video_id)
            out.append(NextUpItem(q.video_id, Reason.QUEUE, queue_id=queue_id))
    return out[:limit]


def _is_episode(video_id: str, catalog: CatalogView) -> bool:
    meta = catalog.video(video_id)
    return meta is not None and meta.is_episode


def _series_ids(user: UserState, catalog: CatalogView) -> list[str]:
    ids = dict.fromkeys(user.series)
    ids.update(dict.fromkeys(user.marks.series))
    ids.update(dict.fromkeys(s for s, _ in user.marks.seasons))
    for video_id in user.marks.videos:
        meta = catalog.video(video_id)
        if meta is not None and meta.series_id is not None:
            ids[meta.series_id] = None
    return list(ids)


def _for_series(
    sid: str,
    user: UserState,
    viewer: str | None,
    catalog: CatalogView,
    in_progress: dict[str, ResumeItem],
) -> NextUpItem | None:
    eps = catalog.episodes(sid)
    if not eps:
        return None
    progress = [p for p in user.series.get(sid, ()) if visible(p.dev, viewer, user.modes)]
    last = max((p.t for p in progress), default=0)
    resuming = [in_progress[e.video_id] for e in eps if e.video_id in in_progress]
    if resuming:
        r = max(resuming, key=lambda i: i.last_activity_ms)
        return NextUpItem(
            r.video_id, Reason.RESUME, sid, r.position_s, max(last, r.last_activity_ms)
        )
    if hierarchy.covers(user.marks, Node(Level.SERIES, sid), catalog):
        return None
    played = max((h for p in progress if (h := p.highest) is not None), default=None)
    highest = -1
    for i, e in enumerate(eps):
        if hierarchy.is_watched(user.marks, e) or (played and (e.season, e.episode) <= played):
            highest = i
    if highest < 0 and not progress:
        return None  # only marks elsewhere (none here) — nothing started in this series
    if highest + 1 >= len(eps):
        return None  # the last episode is watched: the series is done
    # Everything after the highest watched episode is unwatched, by construction.
    return NextUpItem(eps[highest + 1].video_id, Reason.NEXT_EPISODE, sid, 0.0, last)


def _done(
    video_id: str, user: UserState, viewer: str | None, catalog: CatalogView, states: StateOf
) -> bool:
    """Watched (marked, or completed as seen here) or skipped: not worth queueing up."""
    meta = catalog.video(video_id)
    if meta is not None and hierarchy.is_watched(user.marks, meta):
        return True
    st = states(video_id)
    if st is None:
        return False
    status = view_on(st, viewer, user.modes).status
    return status in (WatchStatus.COMPLETED, WatchStatus.SKIPPED)
