"""Patching a day whose views late data changed in a few rows: only the touched keys of each
table are recomputed, and staged as patches (``warehouse.patches``).

``warehouse.touches`` leaves, for such a day D, the stored view rows that go
(``late_removed_<tag>``) and the rows that come (``late_added_<tag>``). From them:

- ``views`` of D: the rows that come, in place of the session keys of both;
- per video of those rows, by difference (``sql/*_late.sql``): ``video_daily`` and
  ``chapter_daily`` of D are the stored rows plus the tables' own SQL over the rows that come,
  minus it over the rows that go (counts and exact DECIMAL sums are additive over views);
  unique viewers move by the late users who enter or leave a video's (or a creator's) viewers;
  the startup quantiles are computed from the videos' startup times; ``video_retention_daily``
  and ``video_retention`` add the retention counts' difference; ``creator_daily`` of D for the
  videos' creators;
- per user of those rows: ``video_viewers`` of D, ``user_activity`` and ``user_daily`` of the
  local days D-1..D+1, their weeks and months, and ``user_all_time``, with the tables' own SQL
  over inputs narrowed to the users: a user's rows depend only on the user's views and
  preferences.

So every row is the one a whole recompute gives: the randomized tests in
tests/unit/warehouse/test_warehouse_late.py compare every table with one, and a test drives
views that go, which the sink's data never produces.
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pyarrow as pa

from warehouse import retention
from warehouse.manifest import UNPARTITIONED
from warehouse.plan import first_of_month, monday
from warehouse.schema import TABLES
from warehouse.streaks import streaks
from warehouse.workspace import Workspace, sql

ONE = timedelta(days=1)
IN_USERS = "user_id IN (SELECT user_id FROM late_users)"
USERS = "SELECT user_id FROM late_users"
VIDEOS = "SELECT video_id FROM late_videos"
# The columns of views that user_activity.sql and video_viewers.sql read (a missing one fails
# loudly, as a binder error, never as a wrong figure).
USER_VIEW_COLUMNS = "user_id, video_id, started_at, ended_at, tz, watch_time_s, completed, day"


def patch_day(ws: Workspace, day: date, tag: str) -> None:
    """Patch every table the changed views of ``day`` (tables of ``tag``) reach."""
    removed, added = f"late_removed_{tag}", f"late_added_{tag}"
    changed = f"SELECT * FROM {removed} UNION ALL SELECT * FROM {added}"
    # plain tables, not temp ones: the two chains below read them on cursors of their own
    ws.con.execute(
        "CREATE OR REPLACE TABLE late_videos AS "
        f"SELECT DISTINCT video_id FROM ({changed}) WHERE video_id IS NOT NULL"
    )
    ws.con.execute(
        "CREATE OR REPLACE TABLE late_users AS "
        f"SELECT DISTINCT user_id FROM ({changed}) WHERE user_id IS NOT NULL"
    )
    try:
        keys = f"SELECT session_key FROM ({changed})"
        # with no stored view changed (late sessions, late starts) the patch only adds views,
        # and readers of the day's views skip matching them against it
        row = ws.con.execute(f"SELECT count(*) FROM {removed}").fetchone()
        adds = row is not None and row[0] == 0
        ws.patch("views", day.isoformat(), f"SELECT * FROM {added}", keys, adds=adds)
        ready = threading.Event()  # late_user_views is there (or failed)

        def users() -> None:
            try:
                _user_views(ws, day)
            finally:
                ready.set()
            _users(ws, day)

        ws.parallel(users, lambda: _videos(ws, day, removed, added, ready))
    finally:
        for table in ("late_videos", "late_users", "late_user_views"):
            ws.con.execute(f"DROP TABLE IF EXISTS {table}")


def _user_views(ws: Workspace, day: date) -> None:
    """The users' views around the day, read once: the views partitions are in video order,
    so picking a user's rows scans the user_id column of each whole day."""
    t0 = time.perf_counter()
    first, last = (day - 2 * ONE).isoformat(), (day + 2 * ONE).isoformat()
    span = [(day + k * ONE).isoformat() for k in range(-2, 3)]
    ws.bind("views", ws.work.files("views", span), alias="late_views_around", where=IN_USERS)
    ws.con.execute(
        f"CREATE OR REPLACE TABLE late_user_views AS SELECT {USER_VIEW_COLUMNS} "
        f"FROM late_views_around WHERE day BETWEEN DATE '{first}' AND DATE '{last}'"
    )
    ws.timed("late_user_views", t0)


def _videos(
    ws: Workspace, day: date, removed: str, added: str, user_views: threading.Event
) -> None:
    con, key = ws.con, day.isoformat()
    con.execute(f"SET VARIABLE day = DATE '{key}'")
    ws.bind("catalog", ws.work.files("catalog"))
    con.execute(f"CREATE OR REPLACE TEMP TABLE scope AS {VIDEOS}")
    # video_daily and chapter_daily by difference: their own SQL over the changed views
    for name in ("video_daily", "chapter_daily"):
        for part, rows in (("come", added), ("gone", removed)):
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW views AS SELECT *, DATE '{key}' AS day FROM {rows}"
            )
            con.execute(f"CREATE OR REPLACE TEMP TABLE late_{part}_{name} AS {sql(name)}")
    _retention(ws, day, removed, added)
    ws.bind("views", ws.work.files("views", [key]), where=f"video_id IN ({VIDEOS})")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE startups AS SELECT video_id, startup_time_s FROM views"
    )
    # the rest needs the late users' views (read by the other chain meanwhile)
    user_views.wait()
    after = f"SELECT user_id, video_id FROM late_user_views WHERE day = DATE '{key}'"
    con.execute(f"CREATE OR REPLACE TEMP VIEW viewers_after AS {after}")
    con.execute(
        "CREATE OR REPLACE TEMP VIEW viewers_before AS "
        f"({after} EXCEPT ALL SELECT user_id, video_id FROM {added}) "
        f"UNION ALL SELECT user_id, video_id FROM {removed}"
    )
    _bind_difference(ws, "video_daily", key)
    ws.patch("video_daily", key, sql("video_daily_late"), VIDEOS)
    _bind_difference(ws, "chapter_daily", key)
    ws.bind("video_daily", ws.work.files("video_daily", [key]), alias="viewed_daily")
    con.execute(
        "CREATE OR REPLACE TEMP VIEW viewed AS SELECT video_id FROM viewed_daily "
        f"WHERE views > 0 AND video_id IN ({VIDEOS})"
    )
    ws.patch("chapter_daily", key, sql("chapter_daily_late"), VIDEOS)
    # who viewed: per user, over the users' views of the day
    con.execute("CREATE OR REPLACE TEMP VIEW views AS SELECT * FROM late_user_views")
    ws.patch("video_viewers", key, sql("video_viewers"), USERS)
    _creators(ws, day)


def _bind_difference(ws: Workspace, name: str, key: str) -> None:
    """Bind ``previous``, ``come`` and ``gone`` for ``<name>_late.sql``."""
    ws.bind(name, ws.work.files(name, [key]), alias="previous")
    for part in ("come", "gone"):
        ws.con.execute(f"CREATE OR REPLACE TEMP VIEW {part} AS SELECT * FROM late_{part}_{name}")


def _creators(ws: Workspace, day: date) -> None:
    con, key = ws.con, day.isoformat()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE late_creators AS SELECT DISTINCT creator_id FROM catalog "
        f"WHERE creator_id IS NOT NULL AND video_id IN ({VIDEOS})"
    )
    owned = (
        "video_id IN (SELECT video_id FROM catalog "
        "WHERE creator_id IN (SELECT creator_id FROM late_creators))"
    )
    ws.bind("video_daily", ws.work.files("video_daily", [key]), where=owned)
    ws.bind("creator_daily", ws.work.files("creator_daily", [key]), alias="previous")
    creators = "SELECT creator_id FROM late_creators"
    ws.patch("creator_daily", key, sql("creator_daily_late"), creators)


def _retention(ws: Workspace, day: date, removed: str, added: str) -> None:
    """The day's and the all-time curves of the videos, patched by the counts' difference
    (``scope``, the videos, is bound by the caller)."""
    con, key = ws.con, day.isoformat()

    def counts(table: str) -> pa.Table:
        views = con.sql(
            f"SELECT video_id, duration_s, played_intervals FROM {table} WHERE duration_s > 0"
        ).to_arrow_table()
        return retention.daily_counts(views)

    con.register("late_gone", counts(removed))
    con.register("late_come", counts(added))
    try:
        con.execute("CREATE OR REPLACE TEMP VIEW removed AS SELECT * FROM late_gone")
        con.execute("CREATE OR REPLACE TEMP VIEW added AS SELECT * FROM late_come")
        for name, part in (("video_retention_daily", key), ("video_retention", UNPARTITIONED)):
            ws.bind(name, ws.work.files(name, [part]), alias="previous")
            body = sql("video_retention")
            if part != UNPARTITIONED:
                body = f"SELECT *, DATE '{key}' AS day FROM ({body})"
            ws.patch(name, part, body, VIDEOS)
    finally:
        con.unregister("late_gone")
        con.unregister("late_come")


def _users(ws: Workspace, day: date) -> None:
    con = ws.con
    days = [day - ONE, day, day + ONE]
    keys = [d.isoformat() for d in days]
    t0 = time.perf_counter()
    ws.bind("user_prefs", ws.work.files("user_prefs"), where=IN_USERS)
    con.execute("CREATE OR REPLACE TEMP TABLE late_prefs AS SELECT * FROM user_prefs")
    con.execute("CREATE OR REPLACE TEMP VIEW user_prefs AS SELECT * FROM late_prefs")
    con.execute("CREATE OR REPLACE TEMP VIEW views AS SELECT * FROM late_user_views")
    con.execute(f"SET VARIABLE first_day = DATE '{keys[0]}'")
    con.execute(f"SET VARIABLE last_day = DATE '{keys[-1]}'")
    con.execute(f"CREATE OR REPLACE TEMP TABLE late_fresh_activity AS {sql('user_activity')}")
    ws.timed("late_user_activity", t0)
    for k in keys:
        rows = f"SELECT * FROM late_fresh_activity WHERE day = DATE '{k}'"
        ws.patch("user_activity", k, rows, USERS)
    # All the users' rows, read once for the tables below (each SQL file picks its days by its
    # variables): those of the three days were just computed, only the others are read.
    _gather(ws, "user_activity", keys)
    for d in days:
        con.execute(f"SET VARIABLE day = DATE '{d.isoformat()}'")
        made = "INSERT INTO" if d != days[0] else "CREATE OR REPLACE TEMP TABLE"
        into = "" if d != days[0] else " AS"
        con.execute(f"{made} late_fresh_daily{into} {sql('user_daily')}")
    for k in keys:
        rows = f"SELECT * FROM late_fresh_daily WHERE day = DATE '{k}'"
        ws.patch("user_daily", k, rows, USERS)
    _gather(ws, "user_daily", keys)
    for w in sorted({monday(d) for d in days}):
        _patch_period(ws, "user_weekly", w)
    for m in sorted({first_of_month(d) for d in days}):
        _patch_period(ws, "user_monthly", m)
    ws.bind("catalog", ws.work.files("catalog"))
    goal_days = con.sql("SELECT user_id, day FROM user_daily WHERE goal_met").pl()
    con.register("streaks", streaks(goal_days).to_arrow())
    activity = sql("user_all_time_activity")
    con.execute(f"CREATE OR REPLACE TEMP TABLE user_all_time_activity AS {activity}")
    try:
        ws.patch("user_all_time", UNPARTITIONED, sql("user_all_time"), USERS)
    finally:
        con.unregister("streaks")
        con.execute("DROP TABLE user_all_time_activity")


def _gather(ws: Workspace, name: str, fresh_days: list[str]) -> None:
    """Bind ``name`` to all the users' rows: ``late_fresh_<table>`` for ``fresh_days`` (as the
    patches store them), the stored partitions for the other days."""
    t0 = time.perf_counter()
    table = TABLES[name]
    stored = [k for k in ws.work.keys(name) if k not in fresh_days]
    ws.bind(name, ws.work.files(name, stored), alias=f"late_stored_{name}", where=IN_USERS)
    fresh = name.removeprefix("user_")
    ws.con.execute(
        f"CREATE OR REPLACE TEMP TABLE late_{name} AS SELECT * FROM late_stored_{name} "
        f"UNION ALL BY NAME SELECT {table.select_list()}, day FROM late_fresh_{fresh}"
    )
    ws.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM late_{name}")
    ws.timed(f"late_gather_{name}", t0)


def _patch_period(ws: Workspace, name: str, key: date) -> None:
    ws.con.execute(f"SET VARIABLE {TABLES[name].partition} = DATE '{key.isoformat()}'")
    ws.patch(name, key.isoformat(), sql(name), USERS)
