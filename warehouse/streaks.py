"""Goal streaks: runs of consecutive local days on which a user met the daily goal. Pure.

A streak counts local calendar days, so it runs across month ends and DST changes alike: the
days come from ``user_daily``, already in the user's own time zone.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

STREAKS_SCHEMA = {
    "user_id": pl.String,
    "longest_streak_days": pl.Int64,
    "streak_last_day": pl.Date,
    "streak_last_days": pl.Int64,
}


def streaks(goal_days: pl.DataFrame) -> pl.DataFrame:
    """Per user: the longest run of goal days, and the latest run (its last day and length).

    ``goal_days`` has columns ``user_id`` and ``day`` (a Date), one row per day the goal was met
    (repeats are ignored). Users without goal days are absent from the result.
    """
    if goal_days.is_empty():
        return pl.DataFrame(schema=STREAKS_SCHEMA)
    runs = (
        goal_days.select("user_id", "day")
        .unique()
        .sort("user_id", "day")
        # Within a run, day minus its rank is constant: that constant names the run.
        .with_columns(rank=pl.int_range(pl.len()).over("user_id"))
        .with_columns(run=pl.col("day").cast(pl.Int64) - pl.col("rank"))
        .group_by("user_id", "run")
        .agg(last=pl.col("day").max(), days=pl.len().cast(pl.Int64))
    )
    return (
        runs.sort("user_id", "last")
        .group_by("user_id", maintain_order=True)
        .agg(
            longest_streak_days=pl.col("days").max(),
            streak_last_day=pl.col("last").last(),
            streak_last_days=pl.col("days").last(),
        )
        .select(list(STREAKS_SCHEMA))
        .cast(STREAKS_SCHEMA)  # type: ignore[arg-type]
    )


def current_streak(last_day: date | None, last_days: int, today: date) -> int:
    """The streak still alive on ``today`` (the user's local date): it may end today or yesterday,
    since today's goal can still be met."""
    if last_day is None or last_day < today - timedelta(days=1):
        return 0
    return last_days
