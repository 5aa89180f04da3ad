"""Lists to browse the warehouse by: the most viewed videos and the most active users.

What a dashboard fills its pickers from (analyst scope in the summary API). Both read tier 2
over a range of days, so they are cached like the other summary reads.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from warehouse.queries import Reader


def top_videos(reader: Reader, start: date, end: date, limit: int) -> list[dict[str, Any]]:
    """The videos with the most views in [start, end] (UTC days), with catalog title and creator.

    Ties go to more watch time, then to the smaller video id.
    """
    keys = reader.keys_between("video_daily", start, end)
    if not keys:
        return []
    return reader.rows(
        f"""
        SELECT d.video_id, any_value(c.title) AS title, any_value(c.creator_id) AS creator_id,
            sum(d.views) AS views, sum(d.watch_time_s) AS watch_time_s,
            sum(d.completions) AS completions,
            sum(d.completions) / sum(d.views) AS completion_rate
        FROM ({reader.relation("video_daily", keys)}) d
        LEFT JOIN ({reader.relation("catalog")}) c USING (video_id)
        GROUP BY d.video_id
        ORDER BY views DESC, watch_time_s DESC, d.video_id
        LIMIT ?
        """,
        [limit],
    )


def active_users(reader: Reader, start: date, end: date, limit: int) -> list[dict[str, Any]]:
    """The users with the most watch time on local days in [start, end], most first."""
    keys = reader.keys_between("user_daily", start, end)
    if not keys:
        return []
    return reader.rows(
        f"""
        SELECT user_id, sum(watch_time_min) AS watch_time_min, count(*) AS days_active,
            sum(sessions) AS sessions, max(day) AS last_day
        FROM ({reader.relation("user_daily", keys)})
        GROUP BY user_id
        ORDER BY watch_time_min DESC, user_id
        LIMIT ?
        """,
        [limit],
    )
