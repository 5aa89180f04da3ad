"""Hierarchical watched marks (seed 004, SPEC §4.4): one write per mark, four lookups per read.

Marks live at four levels — shelf, series, season, video — and are kept *collapsed*: a mark
never sits under another, and when every child of a node is marked the children give way to
one mark on the node. So:

- marking a season or series watched is one entry, whatever its size;
- ``is_watched(episode)`` checks its shelf, series, season and the episode itself;
- unwatching one episode of a watched season *expands* the season into its other episodes
  (and a watched series or shelf into its other seasons / series / movies on the way down);
- marking the last unmarked episode of a season *collapses* them into the season entry (and
  on up to series and shelf when those become complete).

These are explicit user marks, a statement about the library: they apply on every device.
Device isolation governs activity (playback, resume points), see ``devices.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ingest_api.contract import MarkTarget, MarkTargetKind
from streams.model.catalog import CatalogView, VideoMeta

Level = MarkTargetKind


class Node(NamedTuple):
    level: Level
    id: str  # shelf, series or video id
    season: int = 0  # for SEASON nodes


@dataclass(frozen=True, slots=True)
class Marks:
    shelves: frozenset[str] = frozenset()
    series: frozenset[str] = frozenset()
    seasons: frozenset[tuple[str, int]] = frozenset()
    videos: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.shelves) + len(self.series) + len(self.seasons) + len(self.videos)

    def has(self, n: Node) -> bool:
        return _has(self, n)


NO_MARKS = Marks()


def node_of(target: MarkTarget) -> Node:
    """The node a mark event targets (the contract guarantees its ids are present)."""
    if target.kind is Level.VIDEO:
        return Node(Level.VIDEO, target.video_id or "")
    if target.kind is Level.SEASON:
        return Node(Level.SEASON, target.series_id or "", target.season or 0)
    if target.kind is Level.SERIES:
        return Node(Level.SERIES, target.series_id or "")
    return Node(Level.SHELF, target.shelf_id or "")


def is_watched(marks: Marks, v: VideoMeta) -> bool:
    """Is this video marked watched, at any level above or at it? (seed 004's four checks)"""
    if v.shelf_id is not None and v.shelf_id in marks.shelves:
        return True
    sid = v.series_id
    if sid is not None and (sid in marks.series or (sid, v.season) in marks.seasons):
        return True
    return v.video_id in marks.videos


def covers(marks: Marks, n: Node, catalog: CatalogView) -> bool:
    """Is ``n`` marked, or any node above it?"""
    return any(marks.has(x) for x in path_up(n, catalog))


def parent(n: Node, catalog: CatalogView) -> Node | None:
    if n.level is Level.VIDEO:
        v = catalog.video(n.id)
        if v is None:
            return None
        if v.series_id is not None:
            return Node(Level.SEASON, v.series_id, v.season)
        return None if v.shelf_id is None else Node(Level.SHELF, v.shelf_id)
    if n.level is Level.SEASON:
        return Node(Level.SERIES, n.id)
    if n.level is Level.SERIES:
        shelf = next((e.shelf_id for e in catalog.episodes(n.id) if e.shelf_id), None)
        return None if shelf is None else Node(Level.SHELF, shelf)
    return None


def children(n: Node, catalog: CatalogView) -> list[Node]:
    if n.level is Level.SHELF:
        contents = catalog.shelf(n.id)
        return [Node(Level.SERIES, s) for s in contents.series] + [
            Node(Level.VIDEO, m) for m in contents.movies
        ]
    if n.level is Level.SERIES:
        seasons = sorted({e.season for e in catalog.episodes(n.id)})
        return [Node(Level.SEASON, n.id, s) for s in seasons]
    if n.level is Level.SEASON:
        return [
            Node(Level.VIDEO, e.video_id) for e in catalog.episodes(n.id) if e.season == n.season
        ]
    return []


def path_up(n: Node, catalog: CatalogView) -> list[Node]:
    """``n`` and its ancestors, nearest first."""
    out = [n]
    p = parent(n, catalog)
    while p is not None:
        out.append(p)
        p = parent(p, catalog)
    return out


def mark_watched(marks: Marks, n: Node, catalog: CatalogView) -> Marks:
    """Mark ``n`` watched: one entry, replacing any below it, collapsing upward when complete."""
    if covers(marks, n, catalog):
        return marks
    w = _Work(marks)
    w.drop_subtree(n, catalog)
    w.add(n)
    cur = n
    p = parent(cur, catalog)
    while p is not None:
        kids = children(p, catalog)
        # Collapse only what the catalog knows is complete.
        if cur not in kids or not all(w.has(k) for k in kids):
            break
        for k in kids:
            w.discard(k)
        w.add(p)
        cur, p = p, parent(p, catalog)
    return w.freeze()


def mark_unwatched(marks: Marks, n: Node, catalog: CatalogView) -> Marks:
    """Mark ``n`` unwatched: expand a covering mark above it into its other children, level
    by level down to ``n``, then drop ``n`` and everything below it."""
    path = path_up(n, catalog)
    w = _Work(marks)
    top = next((i for i in range(len(path) - 1, 0, -1) if w.has(path[i])), None)
    if top is not None:
        w.discard(path[top])
        for j in range(top, 0, -1):
            for k in children(path[j], catalog):
                if k != path[j - 1]:
                    w.add(k)
    w.drop_subtree(n, catalog)
    out = w.freeze()
    return marks if out == marks else out


class _Work:
    """Mutable scratch copy of ``Marks`` for one operation."""

    def __init__(self, m: Marks) -> None:
        self.shelves = set(m.shelves)
        self.series = set(m.series)
        self.seasons = set(m.seasons)
        self.videos = set(m.videos)

    def has(self, n: Node) -> bool:
        return _has(self, n)

    def add(self, n: Node) -> None:
        if n.level is Level.VIDEO:
            self.videos.add(n.id)
        elif n.level is Level.SEASON:
            self.seasons.add((n.id, n.season))
        elif n.level is Level.SERIES:
            self.series.add(n.id)
        else:
            self.shelves.add(n.id)

    def discard(self, n: Node) -> None:
        if n.level is Level.VIDEO:
            self.videos.discard(n.id)
        elif n.level is Level.SEASON:
            self.seasons.discard((n.id, n.season))
        elif n.level is Level.SERIES:
            self.series.discard(n.id)
        else:
            self.shelves.discard(n.id)

    def drop_subtree(self, n: Node, catalog: CatalogView) -> None:
        self.discard(n)
        for k in children(n, catalog):
            self.drop_subtree(k, catalog)

    def freeze(self) -> Marks:
        return Marks(
            frozenset(self.shelves),
            frozenset(self.series),
            frozenset(self.seasons),
            frozenset(self.videos),
        )


def _has(w: _Work | Marks, n: Node) -> bool:
    if n.level is Level.VIDEO:
        return n.id in w.videos
    if n.level is Level.SEASON:
        return (n.id, n.season) in w.seasons
    if n.level is Level.SERIES:
        return n.id in w.series
    return n.id in w.shelves
