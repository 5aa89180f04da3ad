"""Local days: each user's own time zone, streaks across month ends and DST changes."""

from __future__ import annotations

from datetime import date

from warehouse import rollups

from .wh_builders import Batch, at, prefs


def test_same_instant_lands_on_each_viewers_own_local_day(store, q):
    b = Batch()
    instant = at("2024-03-01 15:30")
    # Tokyo (UTC+9): 2024-03-02 00:30; the session carries the player's tz
    b.view("tokyo", "s1", instant, watch=600, tz="Asia/Tokyo")
    # Los Angeles (UTC-8): 2024-03-01 07:30; tz from preferences set earlier
    b.events.append(prefs("la", at("2024-02-01 00:00"), tz="America/Los_Angeles"))
    b.view("la", "s2", instant, watch=600)
    # preferences win over the device's tz
    b.events.append(prefs("moved", at("2024-02-01 00:00"), tz="America/Los_Angeles"))
    b.view("moved", "s3", instant, watch=600, tz="Asia/Tokyo")
    # a preference set after the view does not move it
    b.view("late", "s4", instant, watch=600, tz="Asia/Tokyo")
    b.events.append(prefs("late", at("2024-03-05 00:00"), tz="America/Los_Angeles"))
    b.write(store)
    rollups.run(store)

    got = {
        r["user_id"]: (r["day"], r["hour"], r["tz"])
        for r in q("SELECT user_id, day, hour, tz FROM user_activity")
    }
    assert got == {
        "tokyo": (date(2024, 3, 2), 0, "Asia/Tokyo"),
        "la": (date(2024, 3, 1), 7, "America/Los_Angeles"),
        "moved": (date(2024, 3, 1), 7, "America/Los_Angeles"),
        "late": (date(2024, 3, 2), 0, "Asia/Tokyo"),
    }
    days = {r["user_id"]: r["day"] for r in q("SELECT user_id, day FROM user_daily")}
    assert days == {
        "tokyo": date(2024, 3, 2),
        "la": date(2024, 3, 1),
        "moved": date(2024, 3, 1),
        "late": date(2024, 3, 2),
    }


def test_streak_runs_across_a_month_end(store, q):
    b = Batch()
    for i, day in enumerate(["2024-01-20", "2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"]):
        b.view("u1", f"s{i}", at(f"{day} 12:00"), watch=31 * 60)
    b.write(store)
    rollups.run(store)
    (u,) = q("SELECT * FROM user_all_time")
    assert (u["longest_streak_days"], u["streak_last_day"], u["streak_last_days"]) == (
        4,
        date(2024, 2, 2),
        4,
    )
    months = q("SELECT month_label, goal_met_days FROM user_monthly ORDER BY month")
    assert [(m["month_label"], m["goal_met_days"]) for m in months] == [
        ("2024-01", 3),
        ("2024-02", 2),
    ]


def test_streak_runs_across_a_dst_change(store, q):
    # New York, 19:30 every evening from Fri 8 to Mon 11 March 2024; clocks sprang forward on
    # Sunday 10 March, so in UTC the views fall on the 9th, 10th, 10th and 11th.
    b = Batch()
    b.events.append(prefs("ny", at("2024-03-01 00:00"), tz="America/New_York"))
    for i, instant in enumerate(
        ["2024-03-09 00:30", "2024-03-10 00:30", "2024-03-10 23:30", "2024-03-11 23:30"]
    ):
        b.view("ny", f"s{i}", at(instant), watch=30 * 60)
    b.write(store)
    rollups.run(store)
    days = [r["day"] for r in q("SELECT day FROM user_daily WHERE goal_met ORDER BY day")]
    assert days == [date(2024, 3, 8), date(2024, 3, 9), date(2024, 3, 10), date(2024, 3, 11)]
    (u,) = q("SELECT * FROM user_all_time")
    assert (u["longest_streak_days"], u["streak_last_days"]) == (4, 4)
    assert u["favorite_hours"] == [19]
