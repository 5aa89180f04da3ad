from __future__ import annotations

from datetime import date

import polars as pl

from warehouse.streaks import current_streak, streaks


def _days(user: str, *days: str) -> list[dict[str, object]]:
    return [{"user_id": user, "day": date.fromisoformat(d)} for d in days]


def test_longest_and_latest_runs_per_user():
    df = pl.DataFrame(
        _days("a", "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-10", "2024-01-11")
        + _days("b", "2024-02-28", "2024-02-29", "2024-03-01", "2024-03-01")
    )
    got = {r["user_id"]: r for r in streaks(df).to_dicts()}
    assert got["a"] == {
        "user_id": "a",
        "longest_streak_days": 3,
        "streak_last_day": date(2024, 1, 11),
        "streak_last_days": 2,
    }
    assert got["b"]["longest_streak_days"] == 3  # leap day included, repeat ignored


def test_no_goal_days_gives_no_rows():
    empty = pl.DataFrame(schema={"user_id": pl.String, "day": pl.Date})
    assert streaks(empty).is_empty()


def test_current_streak_is_alive_until_the_day_after_its_last_day():
    last = date(2024, 3, 10)
    assert current_streak(last, 4, date(2024, 3, 10)) == 4
    assert current_streak(last, 4, date(2024, 3, 11)) == 4
    assert current_streak(last, 4, date(2024, 3, 12)) == 0
    assert current_streak(None, 0, date(2024, 3, 12)) == 0
