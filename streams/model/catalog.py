"""The catalog as the watch-state model sees it: where a video sits, how long it is.

The model reads the catalog only through ``CatalogView`` (three lookups), so a worker may back
it with whatever it keeps; ``Catalog`` is the in-memory one, fed from ``CatalogVideo`` upserts
(and, for videos the catalog has not seen yet, from the ``video`` object of a ``start``).

Hierarchy (seed 004): a *shelf* holds series and movies; a *series* holds seasons; a *season*
holds episodes. A video with a ``series_id`` is an episode (season 0 when none is given);
without one it is a movie.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ingest_api.contract import CatalogVideo, StartEvent


@dataclass(frozen=True, slots=True)
class Chapter:
    title: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class VideoMeta:
    video_id: str
    duration_s: float | None = None
    series_id: str | None = None
    season: int = 0
    episode: int = 0
    shelf_id: str | None = None
    chapters: tuple[Chapter, ...] = ()

    @property
    def is_episode(self) -> bool:
        return self.series_id is not None

    @property
    def order(self) -> tuple[int, int, str]:
        """Position within its series: by season, then episode (then id, to be total)."""
        return (self.season, self.episode, self.video_id)


@dataclass(frozen=True, slots=True)
class ShelfContents:
    series: tuple[str, ...] = ()
    movies: tuple[str, ...] = ()


class CatalogView(Protocol):
    def video(self, video_id: str) -> VideoMeta | None:
        """The video's metadata, or None if the catalog does not know it."""
        ...

    def episodes(self, series_id: str) -> Sequence[VideoMeta]:
        """The series' episodes in (season, episode) order."""
        ...

    def shelf(self, shelf_id: str) -> ShelfContents:
        """The series and movies on a shelf."""
        ...


def meta_from_catalog(v: CatalogVideo) -> VideoMeta:
    return VideoMeta(
        video_id=v.video_id,
        duration_s=v.duration_s,
        series_id=v.series_id,
        season=v.season or 0,
        episode=v.episode or 0,
        shelf_id=v.shelf_id,
        chapters=tuple(Chapter(c.title, c.start_s, c.end_s) for c in v.chapters),
    )


def meta_from_start(ev: StartEvent) -> VideoMeta:
    """What a ``start`` says about its video; the catalog's own entry wins when there is one."""
    info = ev.video
    if info is None:
        return VideoMeta(ev.video_id, ev.duration_s)
    return VideoMeta(
        video_id=ev.video_id,
        duration_s=ev.duration_s,
        series_id=info.series_id,
        season=info.season or 0,
        episode=info.episode or 0,
        shelf_id=info.shelf_id,
    )


class Catalog:
    """In-memory ``CatalogView``. The worker's read model, not watch state: it is the one
    mutable object here, so a catalog of a million videos is not copied per upsert."""

    def __init__(self, videos: Iterable[VideoMeta] = ()) -> None:
        self._videos: dict[str, VideoMeta] = {}
        self._series: dict[str, list[VideoMeta]] = {}
        self._shelves: dict[str, tuple[set[str], set[str]]] = {}
        for v in videos:
            self.upsert(v)

    def upsert(self, v: VideoMeta) -> None:
        old = self._videos.get(v.video_id)
        if old is not None:
            self._unlink(old)
        self._videos[v.video_id] = v
        if v.series_id is not None:
            insort(self._series.setdefault(v.series_id, []), v, key=_order)
        if v.shelf_id is not None:
            series, movies = self._shelves.setdefault(v.shelf_id, (set(), set()))
            (series if v.series_id is not None else movies).add(v.series_id or v.video_id)

    def _unlink(self, old: VideoMeta) -> None:
        if old.series_id is not None:
            eps = self._series.get(old.series_id, [])
            eps[:] = [e for e in eps if e.video_id != old.video_id]
        if old.shelf_id is not None and old.shelf_id in self._shelves:
            series, movies = self._shelves[old.shelf_id]
            movies.discard(old.video_id)
            if old.series_id is not None and not any(
                e.shelf_id == old.shelf_id for e in self._series.get(old.series_id, [])
            ):
                series.discard(old.series_id)

    def video(self, video_id: str) -> VideoMeta | None:
        return self._videos.get(video_id)

    def episodes(self, series_id: str) -> Sequence[VideoMeta]:
        return tuple(self._series.get(series_id, ()))

    def shelf(self, shelf_id: str) -> ShelfContents:
        series, movies = self._shelves.get(shelf_id, (set(), set()))
        return ShelfContents(tuple(sorted(series)), tuple(sorted(movies)))

    def __len__(self) -> int:
        return len(self._videos)


def _order(v: VideoMeta) -> tuple[int, int, str]:
    return v.order
