"""Aggregated analytics from the warehouse (SPEC §6 summary reads).

``Analytics`` is what the analytics routes depend on: blocking calls returning JSON-ready
dicts, which the routes run in the threadpool. ``WarehouseAnalytics`` answers them from one
``warehouse.queries.Reader`` per process, opened in the app's lifespan. Scoping (which token
may read what) is the routes' job; this only answers.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from ingest_api.errors import RequestRejected
from warehouse import browse, fast_reads, funnel, ownership, queries
from warehouse.read_index import DEFAULT_BUDGET_BYTES

log = logging.getLogger(__name__)

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
    """``Analytics`` over the warehouse in ``data_dir``; ``open()`` once per process.

    ``open()`` loads the read index of the current snapshot before returning (at most
    ``warm_s`` seconds), so the API starts serving with point lookups in memory. Later
    snapshots are indexed in the background while the previous one is served, for at most
    ``stale_s`` seconds (``Reader``'s ``stale_s``); then the newest is served regardless.
    """

    # Reads that need no SQL raise nothing under warehouse.reader.memory_only(): the routes
    # may run them on the event loop.
    inline_reads = True

    def __init__(
        self,
        data_dir: Path,
        *,
        threads: int = 1,
        cache_size: int = 4096,
        index_bytes: int = DEFAULT_BUDGET_BYTES,
        warm_s: float = 60.0,
        stale_s: float = 30.0,
    ) -> None:
        self.data_dir = data_dir
        self.threads = threads
        self.cache_size = cache_size
        self.index_bytes = index_bytes
        self.warm_s = warm_s
        self.stale_s = stale_s
        self._reader: queries.Reader | None = None

    def open(self) -> None:
        reader = queries.Reader(
            self.data_dir,
            threads=self.threads,
            cache_size=self.cache_size,
            index_bytes=self.index_bytes,
            stale_s=self.stale_s,
        )
        self._reader = reader
        if reader.store.manifest_path.exists():
            if not reader.wait_index(self.warm_s):
                log.warning("analytics: read index still loading after %.0f s", self.warm_s)
            fast_reads.warm(reader.snapshot().con)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
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
        return now.astimezone(queries.user_tz(self.reader, user_id)).date()

    def user_dashboard(self, user_id: str, now: datetime) -> Doc:
        return queries.user_dashboard(self.reader, user_id, now)

    def video_analytics(self, video_id: str, start: date, end: date) -> Doc:
        reader = self.reader
        snap = reader.snapshot()
        doc = queries.video_analytics(reader, video_id, start, end, snap)
        keys = [k.isoformat() for k in reader.keys_between("milestones", start, end, snap)]
        fast = fast_reads.funnel(snap.view, video_id, keys)
        doc["funnel"] = (
            fast if fast is not None else funnel.video_funnel(reader, video_id, start, end)
        )
        return doc

    def video_retention(self, video_id: str) -> Rows:
        return queries.video_retention(self.reader, video_id)

    def video_creator(self, video_id: str) -> str | None:
        found = fast_reads.lookup(self.reader.snapshot().view, "catalog", video_id)
        if found is None:
            return ownership.video_creator(self.reader, video_id)
        return found[0]["creator_id"] if found else None

    def creator_dashboard(self, creator_id: str, start: date, end: date, top: int) -> Doc:
        return queries.creator_dashboard(self.reader, creator_id, start, end, top=top)

    def top_videos(self, start: date, end: date, limit: int) -> Rows:
        return browse.top_videos(self.reader, start, end, limit)

    def active_users(self, start: date, end: date, limit: int) -> Rows:
        return browse.active_users(self.reader, start, end, limit)
