"""What the summary API asks the warehouse (SPEC §6), as plain dicts and lists.

One :class:`Reader` per process. It keeps an in-memory DuckDB instance (with the Parquet
metadata cache on: data files are immutable, so cached footers never go stale) and the current
manifest, and reloads the manifest only when the file changed (one ``stat`` per query). Each
query reads exactly the partitions its date range needs, by explicit file lists, so its cost
does not grow with the warehouse's history. Thread-safe: every query runs on its own cursor.

Results are cached (LRU) by SQL text and parameters. The SQL names the exact files it reads,
and files never change, so an entry is valid for as long as it can be hit: a rollup that
rewrites a partition changes the file list, hence the key; sink commits, which touch only
tier 1, leave dashboard queries cached.

Dates are ``datetime.date``; user dates are local dates in the user's time zone.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from warehouse.manifest import Manifest
from warehouse.plan import first_of_month, monday
from warehouse.schema import TABLES, USER_DAILY
from warehouse.store import Store
from warehouse.streaks import current_streak
from warehouse.views import relation_sql

Period = Literal["daily", "weekly", "monthly"]
_PERIOD_TABLE = {"daily": "user_daily", "weekly": "user_weekly", "monthly": "user_monthly"}


@dataclass(frozen=True, slots=True)
class _Snapshot:
    stamp: tuple[int, int, int]
    manifest: Manifest
    con: duckdb.DuckDBPyConnection


class Reader:
    """Read-only, cached access to the current snapshot; see the module docstring."""

    def __init__(self, data_dir: Path | str, *, threads: int = 1, cache_size: int = 4096) -> None:
        self.store = Store(data_dir)
        self.threads = threads
        self._snap: _Snapshot | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, tuple[Any, ...]], list[dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size

    def _current(self) -> _Snapshot:
        st = os.stat(self.store.manifest_path)
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        snap = self._snap
        if snap is not None and snap.stamp == stamp:
            return snap
        with self._lock:
            if self._snap is None or self._snap.stamp != stamp:
                con = duckdb.connect()
                con.execute(f"SET threads = {int(self.threads)}")
                con.execute("SET parquet_metadata_cache = true")
                self._snap = _Snapshot(stamp, self.store.manifest(), con)
            return self._snap

    def relation(self, table: str, keys: Iterable[date] | None = None) -> str:
        """SQL for ``table`` restricted to the partitions ``keys`` (all if None)."""
        m = self._current().manifest
        wanted = None if keys is None else [k.isoformat() for k in keys]
        return relation_sql(self.store, TABLES[table], m.files(table, wanted))

    def keys_between(self, table: str, start: date, end: date) -> list[date]:
        """The partition keys of ``table`` in [start, end] that hold data."""
        lo, hi = start.isoformat(), end.isoformat()
        return [
            date.fromisoformat(k) for k in self._current().manifest.keys(table) if lo <= k <= hi
        ]

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run ``sql`` and return its rows as dicts (fresh dicts: callers may change them)."""
        key = (sql, tuple(params))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is None:
            hit = self._query(sql, params)
            with self._lock:
                self._cache[key] = hit
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return [dict(r) for r in hit]

    def _query(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        cur = self._current().con.cursor()
        try:
            cur.execute("SET TimeZone = 'UTC'")
            res = cur.execute(sql, list(params))
            cols = [d[0] for d in res.description or []]
            return [dict(zip(cols, r, strict=True)) for r in res.fetchall()]
        finally:
            cur.close()


def user_periods(
    reader: Reader, user_id: str, period: Period, start: date, end: date
) -> list[dict[str, Any]]:
    """user_daily / user_weekly / user_monthly rows of one user, oldest first.

    Weeks and months are included when they overlap [start, end] (a week is named by its
    Monday, a month by its first day).
    """
    table = _PERIOD_TABLE[period]
    key = TABLES[table].partition
    first = {"daily": start, "weekly": monday(start), "monthly": first_of_month(start)}[period]
    keys = reader.keys_between(table, first, end)
    if not keys:
        return []
    return reader.rows(
        f"SELECT * FROM ({reader.relation(table, keys)}) WHERE user_id = ? ORDER BY {key}",
        [user_id],
    )


def user_dashboard(reader: Reader, user_id: str, now: datetime) -> dict[str, Any]:
    """user_all_time plus the last 7 local days (today included, days without watching as 0).

    ``now`` is an aware instant; "today" is its date in the user's time zone.
    """
    found = reader.rows(
        f"SELECT * FROM ({reader.relation('user_all_time')}) WHERE user_id = ?", [user_id]
    )
    all_time = found[0] if found else None
    tz = _zone(all_time["tz"] if all_time else None)
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=i) for i in range(6, -1, -1)]
    by_day = {r["day"]: r for r in user_periods(reader, user_id, "daily", days[0], today)}
    last_7 = [by_day.get(d) or _empty_day(user_id, d) for d in days]
    if all_time is not None:
        all_time["current_streak_days"] = current_streak(
            all_time["streak_last_day"], all_time["streak_last_days"], today
        )
    return {"user_id": user_id, "today": today, "all_time": all_time, "last_7_days": last_7}


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _empty_day(user_id: str, d: date) -> dict[str, Any]:
    row: dict[str, Any] = {c: None for c in USER_DAILY.column_names}
    row.update(
        user_id=user_id,
        day=d,
        watch_time_min=0.0,
        videos_watched=0,
        videos_completed=0,
        sessions=0,
        goal_met=False,
    )
    return row


_VIDEO_TOTALS = """
WITH d AS (
    SELECT * FROM ({daily}) WHERE video_id = $video
),
u AS (
    SELECT count(DISTINCT user_id) AS unique_viewers FROM ({viewers}) WHERE video_id = $video
),
s AS (
    SELECT
        quantile_cont(startup_time_s, 0.5) AS startup_time_p50_s,
        quantile_cont(startup_time_s, 0.95) AS startup_time_p95_s
    FROM ({views}) WHERE video_id = $video
)
SELECT
    coalesce(sum(d.views), 0) AS views,
    coalesce(sum(d.exits_before_start), 0) AS exits_before_start,
    coalesce(sum(d.startup_failures), 0) AS startup_failures,
    any_value(u.unique_viewers) AS unique_viewers,
    coalesce(sum(d.watch_time_s), 0) AS watch_time_s,
    sum(d.watch_time_s) / nullif(sum(d.views), 0) AS avg_watch_time_s,
    coalesce(sum(d.completions), 0) AS completions,
    sum(d.completions) / nullif(sum(d.views), 0) AS completion_rate,
    any_value(s.startup_time_p50_s) AS startup_time_p50_s,
    any_value(s.startup_time_p95_s) AS startup_time_p95_s,
    coalesce(sum(d.rebuffer_time_s), 0) AS rebuffer_time_s,
    sum(d.rebuffer_time_s) / nullif(sum(d.watch_time_s) + sum(d.rebuffer_time_s), 0)
        AS rebuffer_ratio,
    coalesce(sum(d.errors), 0) AS errors
FROM u CROSS JOIN s LEFT JOIN d ON true
"""


def video_analytics(reader: Reader, video_id: str, start: date, end: date) -> dict[str, Any]:
    """video_daily rows in [start, end] (days with views only) and totals over the range.

    Totals are exact: unique_viewers counts each viewer once over the whole range, and the
    startup-time percentiles are taken over the range's views, not averaged over days.
    """
    keys = reader.keys_between("video_daily", start, end)
    rows = (
        reader.rows(
            f"SELECT * FROM ({reader.relation('video_daily', keys)}) "
            "WHERE video_id = ? ORDER BY day",
            [video_id],
        )
        if keys
        else []
    )
    sql = _VIDEO_TOTALS.format(
        daily=reader.relation("video_daily", keys),
        viewers=reader.relation("video_viewers", keys),
        views=reader.relation("views", keys),
    ).replace("$video", "?")
    (totals,) = reader.rows(sql, [video_id] * sql.count("?"))
    return {"video_id": video_id, "from": start, "to": end, "rows": rows, "totals": totals}


def video_retention(reader: Reader, video_id: str) -> list[dict[str, Any]]:
    """The 100 buckets of a video's all-time retention curve ([] if it has no views)."""
    stored = reader.relation("video_retention")
    return reader.rows(
        "SELECT bucket, views, covered_views, plays, covered_views / views AS share_of_views, "
        "plays / views AS plays_per_view FROM (SELECT views, unnest(range(100)) AS bucket, "
        "unnest(covered_views) AS covered_views, unnest(plays) AS plays "
        f"FROM ({stored}) WHERE video_id = ?)",
        [video_id],
    )


def creator_dashboard(
    reader: Reader, creator_id: str, start: date, end: date, *, top: int = 10
) -> dict[str, Any]:
    """A creator's totals and daily rows over [start, end], top videos, and course progress.

    Videos belong to the creator the catalog names now; unique viewers are exact over the range.
    """
    keys = reader.keys_between("video_daily", start, end)
    catalog = reader.relation("catalog")
    daily = reader.rows(
        f"SELECT * FROM ({reader.relation('creator_daily', keys)}) "
        "WHERE creator_id = ? ORDER BY day",
        [creator_id],
    )
    (totals,) = reader.rows(
        f"""
        WITH owned AS (SELECT video_id FROM ({catalog}) WHERE creator_id = ?),
        d AS (
            SELECT * FROM ({reader.relation("video_daily", keys)})
            WHERE video_id IN (SELECT video_id FROM owned)
        ),
        u AS (
            SELECT count(DISTINCT user_id) AS unique_viewers
            FROM ({reader.relation("video_viewers", keys)})
            WHERE video_id IN (SELECT video_id FROM owned)
        )
        SELECT
            count(DISTINCT d.video_id) AS videos_viewed,
            coalesce(sum(d.views), 0) AS views,
            any_value(u.unique_viewers) AS unique_viewers,
            coalesce(sum(d.watch_time_s), 0) AS watch_time_s,
            coalesce(sum(d.completions), 0) AS completions,
            sum(d.completions) / nullif(sum(d.views), 0) AS completion_rate
        FROM u LEFT JOIN d ON true
        """,
        [creator_id],
    )
    top_videos = reader.rows(
        f"""
        SELECT d.video_id, any_value(c.title) AS title, sum(d.views) AS views,
            sum(d.watch_time_s) AS watch_time_s, sum(d.completions) AS completions,
            sum(d.completions) / sum(d.views) AS completion_rate
        FROM ({reader.relation("video_daily", keys)}) d
        JOIN ({catalog}) c USING (video_id)
        WHERE c.creator_id = ?
        GROUP BY d.video_id
        ORDER BY views DESC, watch_time_s DESC, d.video_id
        LIMIT ?
        """,
        [creator_id, top],
    )
    courses = reader.rows(
        f"""
        SELECT course_id, count(*) AS students, count(*) FILTER (WHERE completed) AS completed,
            avg(progress) AS avg_progress, any_value(required_lessons) AS required_lessons
        FROM ({reader.relation("course_progress")})
        WHERE creator_id = ?
        GROUP BY course_id
        ORDER BY course_id
        """,
        [creator_id],
    )
    return {
        "creator_id": creator_id,
        "from": start,
        "to": end,
        "totals": totals,
        "daily": daily,
        "top_videos": top_videos,
        "courses": courses,
    }
