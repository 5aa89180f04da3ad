"""What the summary API reads: plain dicts over the current snapshot."""

from __future__ import annotations

from datetime import date

import pytest

from warehouse import queries, rollups

from .wh_builders import Batch, at, milestone, prefs, video


@pytest.fixture
def reader(store):
    b = Batch()
    b.catalog += [
        video("v1", title="One", creator_id="c1", course_id="k1", module_id="m1"),
        video("v2", title="Two", creator_id="c1"),
        video("v3", title="Other", creator_id="c2"),
    ]
    b.events.append(prefs("tokyo", at("2024-01-01 00:00"), tz="Asia/Tokyo"))
    for i, day in enumerate(["2024-02-27", "2024-02-28", "2024-02-29"]):
        # 23:00 UTC is 08:00 the next day in Tokyo
        b.view("tokyo", f"t{i}", at(f"{day} 23:00"), watch=31 * 60, completed=True)
    b.view("u2", "a", at("2024-03-01 10:00"), video="v2", watch=100, startup=1.0)
    b.view("u2", "b", at("2024-03-02 10:00"), video="v2", watch=100, startup=3.0)
    b.milestones.append(milestone("tokyo", "v1", "completed", at("2024-02-27 23:20")))
    b.write(store)
    rollups.run(store)
    return queries.Reader(store.root.parent)


def test_user_daily_weekly_monthly_rows_for_a_range(reader):
    daily = queries.user_periods(reader, "tokyo", "daily", date(2024, 2, 29), date(2024, 3, 31))
    assert [r["day"] for r in daily] == [date(2024, 2, 29), date(2024, 3, 1)]
    weekly = queries.user_periods(reader, "tokyo", "weekly", date(2024, 3, 1), date(2024, 3, 1))
    assert [(r["iso_week"], r["days_active"]) for r in weekly] == [("2024-W09", 3)]
    monthly = queries.user_periods(reader, "tokyo", "monthly", date(2024, 2, 15), date(2024, 3, 1))
    assert [(r["month_label"], r["days_active"]) for r in monthly] == [
        ("2024-02", 2),
        ("2024-03", 1),
    ]
    assert queries.user_periods(reader, "nobody", "daily", date(2024, 1, 1), date(2025, 1, 1)) == []


def test_dashboard_has_all_time_and_the_last_seven_local_days(reader):
    # 2024-03-01 16:00 UTC is already 2 March in Tokyo
    dash = queries.user_dashboard(reader, "tokyo", at("2024-03-01 16:00"))
    assert dash["today"] == date(2024, 3, 2)
    days = dash["last_7_days"]
    assert [d["day"] for d in days] == [date(2024, 2, 25 + i) for i in range(5)] + [
        date(2024, 3, 1),
        date(2024, 3, 2),
    ]
    assert [d["watch_time_min"] for d in days] == [0, 0, 0, 31, 31, 31, 0]
    assert set(days[0]) == set(days[3])  # filled days have the same keys
    at_ = dash["all_time"]
    assert (at_["longest_streak_days"], at_["current_streak_days"]) == (3, 3)
    later = queries.user_dashboard(reader, "tokyo", at("2024-03-03 16:00"))
    assert later["all_time"]["current_streak_days"] == 0  # 4 March: the streak broke
    assert queries.user_dashboard(reader, "nobody", at("2024-03-01 16:00"))["all_time"] is None


def test_video_analytics_totals_are_computed_over_the_range(reader):
    got = queries.video_analytics(reader, "v2", date(2024, 3, 1), date(2024, 3, 2))
    assert [r["views"] for r in got["rows"]] == [1, 1]
    t = got["totals"]
    assert (t["views"], t["unique_viewers"], t["watch_time_s"]) == (2, 1, 200.0)
    assert t["startup_time_p50_s"] == pytest.approx(2.0)  # over both days' views
    empty = queries.video_analytics(reader, "v2", date(2025, 1, 1), date(2025, 1, 2))
    assert empty["rows"] == [] and empty["totals"]["views"] == 0


def test_retention_has_100_buckets_or_nothing(reader):
    assert len(queries.video_retention(reader, "v1")) == 100
    assert queries.video_retention(reader, "unknown") == []


def test_creator_dashboard(reader):
    dash = queries.creator_dashboard(reader, "c1", date(2024, 2, 1), date(2024, 3, 31))
    t = dash["totals"]
    assert (t["videos_viewed"], t["views"], t["unique_viewers"]) == (2, 5, 2)
    assert [v["video_id"] for v in dash["top_videos"]] == ["v1", "v2"]
    assert dash["top_videos"][0]["title"] == "One"
    assert [(c["course_id"], c["students"], c["completed"]) for c in dash["courses"]] == [
        ("k1", 1, 1)
    ]
    assert sum(d["views"] for d in dash["daily"]) == 5


def test_reader_sees_new_commits_without_being_recreated(store, reader):
    before = queries.video_analytics(reader, "v3", date(2024, 3, 1), date(2024, 3, 1))
    assert before["totals"]["views"] == 0
    Batch().view("u9", "z", at("2024-03-01 12:00"), video="v3", watch=5).write(store)
    rollups.run(store)
    after = queries.video_analytics(reader, "v3", date(2024, 3, 1), date(2024, 3, 1))
    assert after["totals"]["views"] == 1
