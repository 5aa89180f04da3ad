"""Every warehouse table: its columns (DuckDB types), partitioning, sort order and grain.

This module is the single list of what lives in ``<data_dir>/warehouse``. Tier 1 holds what
arrived (``events``, ``milestones``, ``sessions``, and the ``catalog`` dimension); tier 2 holds
what the rollups derive (SPEC §5). Each derived table has a SQL file in ``warehouse/sql/``
whose output the rollup casts to the columns below, in this order, so a file's schema never
depends on what one day's data happened to contain.

Partitioned tables are stored as ``<tier>/<table>/<partition>=<ISO date>/part-*.parquet``; the
partition column lives in the path (hive style), not in the file. Tables without a partition
are one file, rewritten whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

INTERVAL = "STRUCT(start_s DOUBLE, end_s DOUBLE)"
CHAPTER = "STRUCT(title VARCHAR, start_s DOUBLE, end_s DOUBLE)"
MODULE = (
    "STRUCT(module_id VARCHAR, lessons_required BIGINT,"
    " lessons_completed BIGINT, completed BOOLEAN)"
)
RETENTION_BUCKETS = 100


class Tier(StrEnum):
    TIER1 = "tier1"
    TIER2 = "tier2"


@dataclass(frozen=True, slots=True)
class Table:
    """One warehouse table. ``partition`` is the hive key (``None``: a single file)."""

    name: str
    tier: Tier
    grain: str
    columns: tuple[tuple[str, str], ...]
    partition: str | None
    sort_by: tuple[str, ...]
    key: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    def select_list(self, source: str = "") -> str:
        """``col::TYPE AS col, ...`` in schema order: how every file of the table is written."""
        prefix = f"{source}." if source else ""
        return ", ".join(f'CAST({prefix}"{c}" AS {t}) AS "{c}"' for c, t in self.columns)

    def empty_select(self) -> str:
        """A zero-row SELECT with exactly this table's columns and types."""
        cols = ", ".join(f'CAST(NULL AS {t}) AS "{c}"' for c, t in self.columns)
        return f"SELECT {cols} LIMIT 0"


def _t(
    name: str,
    tier: Tier,
    grain: str,
    partition: str | None,
    sort_by: tuple[str, ...],
    columns: str,
    key: tuple[str, ...] = (),
) -> Table:
    lines = [line.split(maxsplit=1) for line in columns.splitlines() if line.strip()]
    cols = tuple((name_, type_.strip()) for name_, type_ in lines)
    return Table(name, tier, grain, cols, partition, sort_by, key)


T1, T2 = Tier.TIER1, Tier.TIER2

EVENTS = _t(
    "events",
    T1,
    "one row per event_id; date = UTC date of ts",
    "date",
    # by type first: row groups of start/play events are then all a rollup reads
    ("type", "user_id", "ts"),
    """
    event_id VARCHAR
    type VARCHAR
    ts TIMESTAMPTZ
    user_id VARCHAR
    device_id VARCHAR
    video_id VARCHAR
    session_id VARCHAR
    seq BIGINT
    position_s DOUBLE
    duration_s DOUBLE
    playback_rate DOUBLE
    from_position_s DOUBLE
    error_code VARCHAR
    error_message VARCHAR
    device_type VARCHAR
    referrer VARCHAR
    app_version VARCHAR
    tz VARCHAR
    video VARCHAR
    rating INTEGER
    daily_goal_minutes INTEGER
    completion_threshold DOUBLE
    pref_tz VARCHAR
    playback_speed DOUBLE
    mode VARCHAR
    attrs VARCHAR
    extra VARCHAR
    """,
    key=("event_id",),
)

MILESTONES = _t(
    "milestones",
    T1,
    "one row per milestone_id; date = UTC date of ts",
    "date",
    ("user_id", "ts"),
    """
    milestone_id VARCHAR
    milestone VARCHAR
    user_id VARCHAR
    video_id VARCHAR
    cycle INTEGER
    ts TIMESTAMPTZ
    device_id VARCHAR
    session_id VARCHAR
    coverage DOUBLE
    position_s DOUBLE
    watch_time_s DOUBLE
    threshold DOUBLE
    rule VARCHAR
    source_event_id VARCHAR
    """,
    key=("milestone_id",),
)

SESSIONS = _t(
    "sessions",
    T1,
    "one row per session_key; date = UTC date of started_at",
    "date",
    ("user_id", "started_at"),
    f"""
    session_key VARCHAR
    user_id VARCHAR
    session_id VARCHAR
    video_id VARCHAR
    device_id VARCHAR
    started_at TIMESTAMPTZ
    ended_at TIMESTAMPTZ
    end_reason VARCHAR
    watch_time_s DOUBLE
    played_s DOUBLE
    position_start_s DOUBLE
    position_end_s DOUBLE
    coverage_start DOUBLE
    coverage_end DOUBLE
    duration_s DOUBLE
    device_type VARCHAR
    referrer VARCHAR
    tz VARCHAR
    startup_time_s DOUBLE
    rebuffer_time_s DOUBLE
    errors INTEGER
    played_intervals {INTERVAL}[]
    cycle INTEGER
    completed BOOLEAN
    """,
    key=("session_key",),
)

CATALOG = _t(
    "catalog",
    T1,
    "one row per video_id, its latest version",
    None,
    ("video_id",),
    f"""
    video_id VARCHAR
    title VARCHAR
    source_type VARCHAR
    source_id VARCHAR
    creator_id VARCHAR
    channel VARCHAR
    shelf_id VARCHAR
    series_id VARCHAR
    season INTEGER
    episode INTEGER
    course_id VARCHAR
    module_id VARCHAR
    lesson_order INTEGER
    required BOOLEAN
    duration_s DOUBLE
    chapters {CHAPTER}[]
    tags VARCHAR[]
    origin VARCHAR
    updated_at TIMESTAMPTZ
    extra VARCHAR
    """,
    key=("video_id",),
)

VIEWS = _t(
    "views",
    T2,
    "one row per view (a session with a start or play); day = UTC date of started_at",
    "day",
    ("video_id", "user_id"),
    f"""
    video_id VARCHAR
    user_id VARCHAR
    session_key VARCHAR
    session_id VARCHAR
    device_id VARCHAR
    device_type VARCHAR
    referrer VARCHAR
    tz VARCHAR
    started_at TIMESTAMPTZ
    ended_at TIMESTAMPTZ
    end_reason VARCHAR
    watch_time_s DOUBLE
    played_s DOUBLE
    startup_time_s DOUBLE
    rebuffer_time_s DOUBLE
    errors INTEGER
    duration_s DOUBLE
    played_intervals {INTERVAL}[]
    cycle INTEGER
    completed BOOLEAN
    played BOOLEAN
    exited_before_start BOOLEAN
    """,
)

VIDEO_VIEWERS = _t(
    "video_viewers",
    T2,
    "video x viewer x UTC day",
    "day",
    ("video_id", "user_id"),
    """
    video_id VARCHAR
    user_id VARCHAR
    views BIGINT
    """,
)

VIDEO_DAILY = _t(
    "video_daily",
    T2,
    "video x UTC day",
    "day",
    ("video_id",),
    """
    video_id VARCHAR
    views BIGINT
    exits_before_start BIGINT
    startup_failures BIGINT
    unique_viewers BIGINT
    watch_time_s DOUBLE
    avg_watch_time_s DOUBLE
    completions BIGINT
    completion_rate DOUBLE
    startup_time_p50_s DOUBLE
    startup_time_p95_s DOUBLE
    rebuffer_time_s DOUBLE
    rebuffer_ratio DOUBLE
    errors BIGINT
    """,
)

VIDEO_RETENTION_DAILY = _t(
    "video_retention_daily",
    T2,
    "video x UTC day; the 100 buckets as arrays",
    "day",
    ("video_id",),
    """
    video_id VARCHAR
    views BIGINT
    covered_views BIGINT[]
    plays BIGINT[]
    """,
)

VIDEO_RETENTION = _t(
    "video_retention",
    T2,
    "video, all time; the 100 buckets as arrays (the analyst view has a row per bucket)",
    None,
    ("video_id",),
    """
    video_id VARCHAR
    views BIGINT
    covered_views BIGINT[]
    plays BIGINT[]
    """,
    key=("video_id",),
)

CHAPTER_DAILY = _t(
    "chapter_daily",
    T2,
    "chapter (video, chapter_index) x UTC day",
    "day",
    ("video_id", "chapter_index"),
    """
    video_id VARCHAR
    chapter_index INTEGER
    title VARCHAR
    start_s DOUBLE
    end_s DOUBLE
    views_reaching BIGINT
    watch_time_s DOUBLE
    drop_off BIGINT
    drop_off_rate DOUBLE
    """,
)

CREATOR_DAILY = _t(
    "creator_daily",
    T2,
    "creator x UTC day",
    "day",
    ("creator_id",),
    """
    creator_id VARCHAR
    videos_viewed BIGINT
    views BIGINT
    unique_viewers BIGINT
    watch_time_s DOUBLE
    avg_watch_time_s DOUBLE
    completions BIGINT
    completion_rate DOUBLE
    exits_before_start BIGINT
    """,
)

USER_PREFS = _t(
    "user_prefs",
    T2,
    "one row per set_preferences event; day = UTC date of ts",
    "day",
    ("user_id", "ts"),
    """
    user_id VARCHAR
    ts TIMESTAMPTZ
    event_id VARCHAR
    tz VARCHAR
    daily_goal_minutes INTEGER
    completion_threshold DOUBLE
    playback_speed DOUBLE
    """,
)

USER_ACTIVITY = _t(
    "user_activity",
    T2,
    "user x local day x video x local hour of view start",
    "day",
    ("user_id", "video_id", "hour"),
    """
    user_id VARCHAR
    video_id VARCHAR
    hour INTEGER
    tz VARCHAR
    sessions BIGINT
    watch_time_s DOUBLE
    completed_views BIGINT
    first_started_at TIMESTAMPTZ
    last_ended_at TIMESTAMPTZ
    """,
)

_USER_PERIOD = """
    watch_time_min DOUBLE
    videos_watched BIGINT
    videos_completed BIGINT
    sessions BIGINT
    avg_session_min DOUBLE
"""

USER_DAILY = _t(
    "user_daily",
    T2,
    "user x local day (the user's time zone)",
    "day",
    ("user_id",),
    """
    user_id VARCHAR
    tz VARCHAR
    """
    + _USER_PERIOD
    + """
    goal_minutes INTEGER
    goal_met BOOLEAN
    """,
)

USER_WEEKLY = _t(
    "user_weekly",
    T2,
    "user x local ISO week (week = its Monday)",
    "week",
    ("user_id",),
    """
    user_id VARCHAR
    iso_week VARCHAR
    tz VARCHAR
    """
    + _USER_PERIOD
    + """
    days_active BIGINT
    goal_met_days BIGINT
    goal_met BOOLEAN
    """,
)

USER_MONTHLY = _t(
    "user_monthly",
    T2,
    "user x local calendar month (month = its first day)",
    "month",
    ("user_id",),
    """
    user_id VARCHAR
    month_label VARCHAR
    tz VARCHAR
    """
    + _USER_PERIOD
    + """
    days_active BIGINT
    goal_met_days BIGINT
    goal_met BOOLEAN
    """,
)

USER_ALL_TIME = _t(
    "user_all_time",
    T2,
    "user, all time",
    None,
    ("user_id",),
    """
    user_id VARCHAR
    tz VARCHAR
    first_day DATE
    last_day DATE
    days_active BIGINT
    watch_time_min DOUBLE
    sessions BIGINT
    avg_session_min DOUBLE
    videos_watched BIGINT
    videos_completed BIGINT
    completion_rate DOUBLE
    goal_met_days BIGINT
    longest_streak_days BIGINT
    streak_last_day DATE
    streak_last_days BIGINT
    favorite_channels VARCHAR[]
    favorite_hours INTEGER[]
    """,
    key=("user_id",),
)

COURSE_PROGRESS = _t(
    "course_progress",
    T2,
    "student x course",
    None,
    ("course_id", "user_id"),
    f"""
    user_id VARCHAR
    course_id VARCHAR
    creator_id VARCHAR
    required_lessons BIGINT
    lessons_completed BIGINT
    progress DOUBLE
    modules_total BIGINT
    modules_completed BIGINT
    modules {MODULE}[]
    completed BOOLEAN
    completed_at TIMESTAMPTZ
    started_at TIMESTAMPTZ
    last_activity_at TIMESTAMPTZ
    """,
    key=("user_id", "course_id"),
)

# What the rollup last saw of the catalog, to find which videos changed (not shown to analysts).
CATALOG_SEEN = _t(
    "_catalog_seen",
    T2,
    "one row per video_id",
    None,
    ("video_id",),
    """
    video_id VARCHAR
    fingerprint VARCHAR
    """,
    key=("video_id",),
)

# Which views a sink batch may have changed: the (user_id, session_id) of its new start/play
# events and sessions, in the partition of the dirty mark they came with (not shown to
# analysts). The rollup checks only these pairs' views and drops the rows it has handled.
VIEW_TOUCHES = _t(
    "_view_touches",
    T1,
    "(user_id, session_id) of new start/play events and sessions; date = their dirty mark's key",
    "date",
    ("user_id", "session_id"),
    """
    user_id VARCHAR
    session_id VARCHAR
    """,
)

TIER1_TABLES = (EVENTS, MILESTONES, SESSIONS, CATALOG, VIEW_TOUCHES)
TIER2_TABLES = (
    VIEWS,
    VIDEO_VIEWERS,
    VIDEO_DAILY,
    VIDEO_RETENTION_DAILY,
    VIDEO_RETENTION,
    CHAPTER_DAILY,
    CREATOR_DAILY,
    USER_PREFS,
    USER_ACTIVITY,
    USER_DAILY,
    USER_WEEKLY,
    USER_MONTHLY,
    USER_ALL_TIME,
    COURSE_PROGRESS,
    CATALOG_SEEN,
)
TABLES: dict[str, Table] = {t.name: t for t in TIER1_TABLES + TIER2_TABLES}

# Tables that hold one row (or more) per user: what erase_user must leave empty.
USER_TABLES = (
    EVENTS,
    MILESTONES,
    SESSIONS,
    VIEWS,
    VIDEO_VIEWERS,
    USER_PREFS,
    USER_ACTIVITY,
    USER_DAILY,
    USER_WEEKLY,
    USER_MONTHLY,
    USER_ALL_TIME,
    COURSE_PROGRESS,
)


def public(table: Table) -> bool:
    """Whether analysts see the table as a view in ``analytics.duckdb``."""
    return not table.name.startswith("_")
