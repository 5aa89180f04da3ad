"""User tables: daily / weekly / monthly / all-time figures, goals, local days and streaks."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from warehouse import rollups

from .wh_builders import Batch, at, milestone, prefs, video


def _u1_week(b: Batch) -> Batch:
    """u1 in UTC, default goal 30 min, week of Monday 2024-03-04 (hand-computed below)."""
    b.catalog += [video("v1", channel="A"), video("v2", channel="B")]
    b.view("u1", "s1", at("2024-03-04 09:00"), watch=20 * 60)
    b.view("u1", "s2", at("2024-03-04 10:00"), video="v2", watch=15 * 60, completed=True)
    b.view("u1", "s3", at("2024-03-05 09:10"), watch=10 * 60)
    b.view("u1", "s3b", at("2024-03-05 09:30"))  # never played: not a watching session
    b.view("u1", "s4", at("2024-03-10 20:00"), watch=40 * 60)
    return b


def test_user_daily_rows(store, q):
    _u1_week(Batch()).write(store)
    rollups.run(store)
    rows = q("SELECT * FROM user_daily WHERE user_id = 'u1' ORDER BY day")
    got = [
        (
            r["day"],
            r["watch_time_min"],
            r["videos_watched"],
            r["videos_completed"],
            r["sessions"],
            r["avg_session_min"],
            r["goal_minutes"],
            r["goal_met"],
        )
        for r in rows
    ]
    assert got == [
        (date(2024, 3, 4), 35.0, 2, 1, 2, 17.5, 30, True),
        (date(2024, 3, 5), 10.0, 1, 0, 1, 10.0, 30, False),
        (date(2024, 3, 10), 40.0, 1, 0, 1, 40.0, 30, True),
    ]


def test_user_weekly_and_monthly_count_distinct_videos_over_the_period(store, q):
    _u1_week(Batch()).write(store)
    rollups.run(store)
    (week,) = q("SELECT * FROM user_weekly WHERE user_id = 'u1'")
    assert week["week"] == date(2024, 3, 4)
    assert week["iso_week"] == "2024-W10"
    assert (week["watch_time_min"], week["videos_watched"], week["videos_completed"]) == (
        85.0,
        2,
        1,
    )
    assert (week["sessions"], week["avg_session_min"]) == (4, 21.25)
    assert (week["days_active"], week["goal_met_days"], week["goal_met"]) == (3, 2, False)
    (month,) = q("SELECT * FROM user_monthly WHERE user_id = 'u1'")
    assert (month["month"], month["month_label"]) == (date(2024, 3, 1), "2024-03")
    assert (month["watch_time_min"], month["videos_watched"], month["goal_met_days"]) == (
        85.0,
        2,
        2,
    )


def test_user_all_time_totals_and_favorites(store, q):
    _u1_week(Batch()).write(store)
    rollups.run(store)
    (u,) = q("SELECT * FROM user_all_time WHERE user_id = 'u1'")
    assert (u["first_day"], u["last_day"], u["days_active"]) == (
        date(2024, 3, 4),
        date(2024, 3, 10),
        3,
    )
    assert (u["watch_time_min"], u["sessions"], u["avg_session_min"]) == (85.0, 4, 21.25)
    assert (u["videos_watched"], u["videos_completed"], u["completion_rate"]) == (2, 1, 0.5)
    assert (u["goal_met_days"], u["longest_streak_days"]) == (2, 1)
    assert (u["streak_last_day"], u["streak_last_days"]) == (date(2024, 3, 10), 1)
    assert u["favorite_channels"] == ["A", "B"]  # 70 min vs 15 min
    assert u["favorite_hours"] == [20, 9, 10]  # 40, 30, 15 min


def test_goal_comes_from_the_latest_preference_of_that_local_day(store, q):
    b = Batch()
    b.view("u2", "s1", at("2024-03-03 10:00"), watch=12 * 60)  # default goal 30: not met
    b.view("u2", "s2", at("2024-03-04 10:00"), watch=15 * 60)
    b.events.append(prefs("u2", at("2024-03-04 12:00"), daily_goal_minutes=10))  # later that day
    b.write(store)
    rollups.run(store)
    rows = q("SELECT day, goal_minutes, goal_met FROM user_daily ORDER BY day")
    assert [(r["day"], r["goal_minutes"], r["goal_met"]) for r in rows] == [
        (date(2024, 3, 3), 30, False),
        (date(2024, 3, 4), 10, True),
    ]


def test_course_progress_counts_required_lessons_and_modules(store, q):
    b = Batch()
    b.catalog += [
        video("L1", creator_id="c1", course_id="k1", module_id="m1", lesson_order=1),
        video("L2", creator_id="c1", course_id="k1", module_id="m1", lesson_order=2),
        video("L3", creator_id="c1", course_id="k1", module_id="m2", lesson_order=3),
        video("L4", creator_id="c1", course_id="k1", module_id="m2", required=False),
        video("other"),
    ]

    t = at("2024-03-01 10:00")
    done = "completed"
    b.milestones += [
        milestone("u1", "L1", "started", t),
        milestone("u1", "L1", done, at("2024-03-01 11:00")),
        milestone("u1", "L1", done, at("2024-03-02 11:00"), cycle=1),  # a rewatch
        milestone("u1", "L2", done, at("2024-03-01 12:00")),
        milestone("u1", "L4", done, at("2024-03-01 13:00")),  # optional lesson
        milestone("u1", "L3", "started", at("2024-03-03 09:00")),
        milestone("u1", "other", done, t),  # not a lesson
        milestone("u2", "L1", done, at("2024-03-01 11:00")),
        milestone("u2", "L2", done, at("2024-03-01 12:00")),
        milestone("u2", "L3", done, at("2024-03-05 12:00")),
        milestone("u3", "L1", "started", t),
    ]
    b.write(store)
    rollups.run(store)
    rows = {r["user_id"]: r for r in q("SELECT * FROM course_progress WHERE course_id = 'k1'")}
    assert set(rows) == {"u1", "u2", "u3"}
    u1, u2, u3 = rows["u1"], rows["u2"], rows["u3"]
    assert (u1["required_lessons"], u1["lessons_completed"]) == (3, 2)
    assert u1["progress"] == pytest.approx(2 / 3)
    assert (u1["modules_total"], u1["modules_completed"], u1["completed"]) == (2, 1, False)
    assert u1["modules"] == [
        {"module_id": "m1", "lessons_required": 2, "lessons_completed": 2, "completed": True},
        {"module_id": "m2", "lessons_required": 1, "lessons_completed": 0, "completed": False},
    ]
    assert u1["completed_at"] is None
    assert u1["last_activity_at"] == at("2024-03-03 09:00")
    assert (u2["lessons_completed"], u2["progress"], u2["completed"]) == (3, 1.0, True)
    assert u2["completed_at"] == at("2024-03-05 12:00")
    assert (u3["lessons_completed"], u3["progress"], u3["creator_id"]) == (0, 0.0, "c1")


def test_course_progress_of_students_without_completions_lists_every_module(store, q):
    """Students who completed no required lesson take their course's module list as it is
    (built once per course); the others get their own. Both in module order, NULL first."""
    b = Batch()
    b.catalog += [
        video("L1", creator_id="c1", course_id="k1", module_id="m2"),
        video("L2", creator_id="c1", course_id="k1", module_id="m1"),
        video("L3", creator_id="c1", course_id="k1"),  # no module
        video("L4", creator_id="c1", course_id="k1", module_id="m3", required=False),
    ]
    t = at("2024-03-01 10:00")
    b.milestones += [
        milestone("u1", "L1", "started", t),
        milestone("u1", "L4", "completed", at("2024-03-01 11:00")),  # optional: not progress
        milestone("u2", "L2", "completed", at("2024-03-01 12:00")),
    ]
    b.write(store)
    rollups.run(store)
    rows = {r["user_id"]: r for r in q("SELECT * FROM course_progress WHERE course_id = 'k1'")}

    def module(m: str | None, required: int, completed: int) -> dict[str, object]:
        done = required > 0 and completed == required
        return {
            "module_id": m,
            "lessons_required": required,
            "lessons_completed": completed,
            "completed": done,
        }

    u1, u2 = rows["u1"], rows["u2"]
    assert u1["modules"] == [
        module(None, 1, 0),
        module("m1", 1, 0),
        module("m2", 1, 0),
        module("m3", 0, 0),
    ]
    assert (u1["required_lessons"], u1["lessons_completed"], u1["progress"]) == (3, 0, 0.0)
    assert (u1["modules_total"], u1["modules_completed"], u1["completed"]) == (3, 0, False)
    assert (u1["completed_at"], u1["last_activity_at"]) == (None, at("2024-03-01 11:00"))
    assert u2["modules"] == [
        module(None, 1, 0),
        module("m1", 1, 1),
        module("m2", 1, 0),
        module("m3", 0, 0),
    ]
    assert (u2["lessons_completed"], u2["modules_completed"], u2["completed"]) == (1, 1, False)


def test_weekly_and_monthly_figures_equal_a_recount_over_user_activity(store, q):
    """Users active on one day of a period take that day's figures; the rest are counted again
    over the period. Either way the figures must be what counting the period's activity gives,
    to the bit."""
    rng = random.Random(4)
    b = Batch()
    b.catalog += [video(f"v{i}") for i in range(4)]
    for i in range(200):
        started = at("2024-02-24 00:00") + timedelta(minutes=rng.randrange(14 * 24 * 60))
        b.view(
            f"u{rng.randrange(60)}",
            f"s{i}",
            started,
            video=f"v{rng.randrange(4)}",
            watch=rng.choice([0.0, 0.001, 59.999, 600.5, 1234.567]),
            completed=rng.random() < 0.3,
        )
    b.write(store)
    rollups.run(store)
    for table, period, start in (
        ("user_weekly", "week", "date_trunc('week', day)"),
        ("user_monthly", "month", "date_trunc('month', day)"),
    ):
        recount = q(
            f"""
            SELECT user_id, CAST({start} AS DATE) AS {period},
                sum(watch_time_s::DECIMAL(18, 3)) / 60 AS watch_time_min,
                count(DISTINCT video_id) AS videos_watched,
                count(DISTINCT video_id) FILTER (WHERE completed_views > 0) AS videos_completed,
                sum(sessions)::BIGINT AS sessions
            FROM user_activity GROUP BY ALL ORDER BY ALL
            """
        )
        got = q(
            f"SELECT user_id, {period}, watch_time_min, videos_watched, videos_completed, "
            f"sessions FROM {table} ORDER BY ALL"
        )
        assert got == recount
        assert any(r["days_active"] > 1 for r in q(f"SELECT days_active FROM {table}"))
        assert any(r["days_active"] == 1 for r in q(f"SELECT days_active FROM {table}"))
