"""What the summary API asks the warehouse (SPEC §6), as plain dicts and lists.

Every function takes one snapshot of the :class:`~warehouse.reader.Reader` and reads all its
tables from it. Point lookups are answered from the read index (``warehouse.fast_reads``) when
every file they need is indexed, else by SQL over explicit Parquet file lists (the result
cache keeps those); both give the same answer.

Dates are ``datetime.date``; user dates are local dates in the user's time zone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from warehouse import fast_reads
from warehouse.plan import first_of_month, monday
from warehouse.reader import Reader, Snapshot
from warehouse.schema import TABLES, USER_DAILY
from warehouse.streaks import current_streak

__all__ = [
    "Period",
    "Reader",
    "Snapshot",
    "creator_dashboard",
    "user_dashboard",
    "user_periods",
    "user_tz",
    "video_analytics",
    "video_retention",
]

Period = Literal["daily", "weekly", "monthly"]
_PERIOD_TABLE = {"daily": "user_daily", "weekly": "user_weekly", "monthly": "user_monthly"}


def _iso(keys: list[date]) -> list[str]:
    return [k.isoformat() for k in keys]


def user_periods(
    reader: Reader,
    user_id: str,
    period: Period,
    start: date,
    end: date,
    snap: Snapshot | None = None,
) -> list[dict[str, Any]]:
    """user_daily / user_weekly / user_monthly rows of one user, oldest first.

    Weeks and months are included when they overlap [start, end] (a week is named by its
    Monday, a month by its first day).
    """
    snap = snap or reader.snapshot()
    table = _PERIOD_TABLE[period]
    key = TABLES[table].partition
    assert key is not None
    first = {"daily": start, "weekly": monday(start), "monthly": first_of_month(start)}[period]
    keys = reader.keys_between(table, first, end, snap)
    if not keys:
        return []
    found = snap.view.files(table, _iso(keys))
    if found is not None:
        return sorted(fast_reads.key_rows(found, user_id, key), key=lambda r: r[key])
    return reader.rows(
        f"SELECT * FROM ({reader.relation(table, keys, snap)}) WHERE user_id = ? ORDER BY {key}",
        [user_id],
        snap,
    )


def user_all_time(reader: Reader, user_id: str, snap: Snapshot) -> dict[str, Any] | None:
    """The user's stored user_all_time row, or None."""
    found = fast_reads.lookup(snap.view, "user_all_time", user_id)
    if found is None:
        found = reader.rows(
            f"SELECT * FROM ({reader.relation('user_all_time', None, snap)}) WHERE user_id = ?",
            [user_id],
            snap,
        )
    return found[0] if found else None


def user_tz(reader: Reader, user_id: str) -> ZoneInfo:
    """The user's time zone per user_all_time (UTC if unknown)."""
    found = user_all_time(reader, user_id, reader.snapshot())
    return _zone(found["tz"] if found else None)


def user_dashboard(reader: Reader, user_id: str, now: datetime) -> dict[str, Any]:
    """user_all_time plus the last 7 local days (today included, days without watching as 0).

    ``now`` is an aware instant; "today" is its date in the user's time zone.
    """
    snap = reader.snapshot()
    all_time = user_all_time(reader, user_id, snap)
    tz = _zone(all_time["tz"] if all_time else None)
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=i) for i in range(6, -1, -1)]
    found = user_periods(reader, user_id, "daily", days[0], today, snap)
    by_day = {r["day"]: r for r in found}
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


def video_analytics(
    reader: Reader, video_id: str, start: date, end: date, snap: Snapshot | None = None
) -> dict[str, Any]:
    """video_daily rows in [start, end] (days with views only) and totals over the range.

    Totals are exact: unique_viewers counts each viewer once over the whole range, and the
    startup-time percentiles are taken over the range's views, not averaged over days.
    """
    snap = snap or reader.snapshot()
    keys = reader.keys_between("video_daily", start, end, snap)
    found = snap.view.files("video_daily", _iso(keys))
    totals = fast_reads.video_totals(snap.view, snap.con, video_id, _iso(keys))
    if found is not None and totals is not None:
        rows = fast_reads.key_rows(found, video_id, "day")
        rows.sort(key=lambda r: r["day"])
        return {"video_id": video_id, "from": start, "to": end, "rows": rows, "totals": totals}
    rows = (
        reader.rows(
            f"SELECT * FROM ({reader.relation('video_daily', keys, snap)}) "
            "WHERE video_id = ? ORDER BY day",
            [video_id],
            snap,
        )
        if keys
        else []
    )
    sql = _VIDEO_TOTALS.format(
        daily=reader.relation("video_daily", keys, snap),
        viewers=reader.relation("video_viewers", keys, snap),
        views=reader.relation("views", keys, snap),
    ).replace("$video", "?")
    (totals,) = reader.rows(sql, [video_id] * sql.count("?"), snap)
    return {"video_id": video_id, "from": start, "to": end, "rows": rows, "totals": totals}


def video_retention(reader: Reader, video_id: str) -> list[dict[str, Any]]:
    """The 100 buckets of a video's all-time retention curve ([] if it has no views)."""
    snap = reader.snapshot()
    fast = fast_reads.retention(snap.view, video_id)
    if fast is not None:
        return fast
    stored = reader.relation("video_retention", None, snap)
    return reader.rows(
        "SELECT bucket, views, covered_views, plays, covered_views / views AS share_of_views, "
        "plays / views AS plays_per_view FROM (SELECT views, unnest(range(100)) AS bucket, "
        "unnest(covered_views) AS covered_views, unnest(plays) AS plays "
        f"FROM ({stored}) WHERE video_id = ?)",
        [video_id],
        snap,
    )


def creator_dashboard(
    reader: Reader, creator_id: str, start: date, end: date, *, top: int = 10
) -> dict[str, Any]:
    """A creator's totals and daily rows over [start, end], top videos, and course progress.

    Videos belong to the creator the catalog names now; unique viewers are exact over the range.
    """
    snap = reader.snapshot()
    keys = reader.keys_between("video_daily", start, end, snap)
    head = {"creator_id": creator_id, "from": start, "to": end}
    fast = fast_reads.creator(snap.view, creator_id, _iso(keys), top)
    if fast is not None:
        return {**head, **fast}
    return {**head, **_creator_sql(reader, snap, creator_id, keys, top)}


def _creator_sql(
    reader: Reader, snap: Snapshot, creator_id: str, keys: list[date], top: int
) -> dict[str, Any]:
    def rel(table: str, with_keys: bool = True) -> str:
        return reader.relation(table, keys if with_keys else None, snap)

    catalog = rel("catalog", False)
    daily = reader.rows(
        f"SELECT * FROM ({rel('creator_daily')}) WHERE creator_id = ? ORDER BY day",
        [creator_id],
        snap,
    )
    (totals,) = reader.rows(
        f"""
        WITH owned AS (SELECT video_id FROM ({catalog}) WHERE creator_id = ?),
        d AS (
            SELECT * FROM ({rel("video_daily")})
            WHERE video_id IN (SELECT video_id FROM owned)
        ),
        u AS (
            SELECT count(DISTINCT user_id) AS unique_viewers
            FROM ({rel("video_viewers")})
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
        snap,
    )
    top_videos = reader.rows(
        f"""
        SELECT d.video_id, any_value(c.title) AS title, sum(d.views) AS views,
            sum(d.watch_time_s) AS watch_time_s, sum(d.completions) AS completions,
            sum(d.completions) / sum(d.views) AS completion_rate
        FROM ({rel("video_daily")}) d
        JOIN ({catalog}) c USING (video_id)
        WHERE c.creator_id = ?
        GROUP BY d.video_id
        ORDER BY views DESC, watch_time_s DESC, d.video_id
        LIMIT ?
        """,
        [creator_id, top],
        snap,
    )
    courses = reader.rows(
        f"""
        SELECT course_id, count(*) AS students, count(*) FILTER (WHERE completed) AS completed,
            avg(progress) AS avg_progress, any_value(required_lessons) AS required_lessons
        FROM ({rel("course_progress", False)})
        WHERE creator_id = ?
        GROUP BY course_id
        ORDER BY course_id
        """,
        [creator_id],
        snap,
    )
    return {"totals": totals, "daily": daily, "top_videos": top_videos, "courses": courses}
