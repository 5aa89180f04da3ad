"""Aggregated analytics from the warehouse (SPEC §6 summary reads).

``Analytics`` is what the analytics routes depend on: blocking calls returning JSON-ready
dicts, which the routes run in the threadpool. ``WarehouseAnalytics`` answers them from one
``warehouse.queries.Reader`` per process, opened in the app's lifespan. Scoping (which token
may read what) is the routes' job; this only answers.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest_api.errors import RequestRejected
from warehouse import browse, funnel, ownership, queries

Doc = dict[str, Any]
Rows = list[dict[str, Any]]


class Analytics(Protocol):
    """The summary API's reads of the warehouse. Every call blocks: call from a thread."""

    def user_periods(self, user_id: str, period: queries.Period, start: date, end: date) -> Rows:
        """user_daily / weekly / monthly rows overlapping [start, end] (local dates)."""
        ...

    def user_today(self, user_id: str, now: datetime) -> date:
        """``now``'s date in the user's time zone (UTC if unknown)."""
        ...

    def user_dashboard(self, user_id: str, now: datetime) -> Doc:
        """user_all_time plus the last 7 local days."""
        ...

    def video_analytics(self, video_id: str, start: date, end: date) -> Doc:
        """video_daily rows, range totals and the milestone funnel."""
        ...

    def video_retention(self, video_id: str) -> Rows:
        """The 100 retention buckets, or []."""
        ...

    def video_creator(self, video_id: str) -> str | None:
        """The video's creator per the catalog, or None."""
        ...

    def creator_dashboard(self, creator_id: str, start: date, end: date, top: int) -> Doc:
        """Creator totals, daily rows, top videos and course progress."""
        ...

    def top_videos(self, start: date, end: date, limit: int) -> Rows:
        """The most viewed videos of the range."""
        ...

    def active_users(self, start: date, end: date, limit: int) -> Rows:
        """The users with the most watch time in the range."""
        ...


class WarehouseAnalytics:
    """``Analytics`` over the warehouse in ``data_dir``; ``open()`` once per process."""

    def __init__(self, data_dir: Path, *, threads: int = 1, cache_size: int = 4096) -> None:
        self.data_dir = data_dir
        self.threads = threads
        self.cache_size = cache_size
        self._reader: queries.Reader | None = None

    def open(self) -> None:
        self._reader = queries.Reader(
            self.data_dir, threads=self.threads, cache_size=self.cache_size
        )

    def close(self) -> None:
        self._reader = None

    @property
    def reader(self) -> queries.Reader:
        reader = self._reader
        if reader is None:
            raise RequestRejected(503, "analytics: the warehouse reader is not open", 1.0)
        if not reader.store.manifest_path.exists():
            # Nothing has been committed yet (the sink creates the warehouse on its first run).
            raise RequestRejected(503, "analytics: the warehouse has no data yet", 5.0)
        return reader

    def user_periods(self, user_id: str, period: queries.Period, start: date, end: date) -> Rows:
        return queries.user_periods(self.reader, user_id, period, start, end)

    def user_today(self, user_id: str, now: datetime) -> date:
        found = self.reader.rows(
            f"SELECT tz FROM ({self.reader.relation('user_all_time')}) WHERE user_id = ?",
            [user_id],
        )
        try:
            tz = ZoneInfo(found[0]["tz"] or "UTC") if found else ZoneInfo("UTC")
        except (ZoneInfoNotFoundError, ValueError):
            tz = ZoneInfo("UTC")
        return now.astimezone(tz).date()

    def user_dashboard(self, user_id: str, now: datetime) -> Doc:
        return queries.user_dashboard(self.reader, user_id, now)

    def video_analytics(self, video_id: str, start: date, end: date) -> Doc:
        doc = queries.video_analytics(self.reader, video_id, start, end)
        doc["funnel"] = funnel.video_funnel(self.reader, video_id, start, end)
        return doc

    def video_retention(self, video_id: str) -> Rows:
        return queries.video_retention(self.reader, video_id)

    def video_creator(self, video_id: str) -> str | None:
        return ownership.video_creator(self.reader, video_id)

    def creator_dashboard(self, creator_id: str, start: date, end: date, top: int) -> Doc:
        return queries.creator_dashboard(self.reader, creator_id, start, end, top=top)

    def top_videos(self, start: date, end: date, limit: int) -> Rows:
        return browse.top_videos(self.reader, start, end, limit)

    def active_users(self, start: date, end: date, limit: int) -> Rows:
        return browse.active_users(self.reader, start, end, limit)
