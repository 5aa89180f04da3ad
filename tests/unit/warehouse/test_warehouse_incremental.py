"""Rollups recompute exactly what new or late data touched, and nothing changes twice."""

from __future__ import annotations

from datetime import date

from warehouse import rollups
from warehouse.schema import TIER2_TABLES, public
from warehouse.store import Store

from .wh_builders import Batch, analyst, at, prefs, video


def _dataset() -> Batch:
    b = Batch()
    b.catalog += [video("v1", creator_id="c1", channel="A", course_id="k1",
                        chapters=[{"title": "x", "start_s": 0, "end_s": 300},
                                  {"title": "y", "start_s": 300, "end_s": 600}])]  # fmt: skip
    b.events.append(prefs("u2", at("2024-02-28 00:00"), tz="Asia/Tokyo", daily_goal_minutes=5))
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        b.view("u1", f"a{day}", at(f"{day} 09:00"), watch=1900, intervals=[(0, 400)])
        b.view("u2", f"b{day}", at(f"{day} 20:00"), watch=400, intervals=[(100, 500)])
    return b


def _contents(store: Store) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    for t in TIER2_TABLES:
        if public(t):
            # current_streak_days depends on today's date, not on the data
            live = " EXCLUDE (current_streak_days)" if t.name == "user_all_time" else ""
            rows = analyst(store, f"SELECT *{live} FROM {t.name}")
            out[t.name] = sorted(tuple(map(repr, r.values())) for r in rows)
    return out


def test_loading_the_same_data_twice_changes_nothing(store):
    batch = _dataset()
    batch.write(store)
    rollups.run(store)
    before, version = _contents(store), store.manifest().version
    assert batch.write(store).version is None  # a redelivered batch: same ids
    assert rollups.run(store).version is None  # nothing dirty: no commit
    assert store.manifest().version == version
    assert _contents(store) == before


def test_recomputing_everything_gives_the_same_tables(store):
    _dataset().write(store)
    rollups.run(store)
    before = _contents(store)
    report = rollups.run(store, full=True)
    assert report.version is not None
    assert _contents(store) == before


def test_a_late_session_recomputes_its_own_day_only(store, q):
    _dataset().write(store)
    rollups.run(store)
    untouched = store.manifest().partition("video_daily", "2024-03-03")

    late = Batch()
    late.view("u3", "late", at("2024-03-01 12:00"), watch=100)
    late.write(store)
    report = rollups.run(store)

    # the day and the one before (a start event may end a session of the day before) are
    # checked; only the day's views changed, in one row: it is patched, not recomputed
    assert report.patched == {date(2024, 3, 1)} and not report.plan.view_days
    days = {r["day"]: r for r in q("SELECT * FROM video_daily ORDER BY day")}
    assert (days[date(2024, 3, 1)]["views"], days[date(2024, 3, 1)]["unique_viewers"]) == (3, 3)
    assert days[date(2024, 3, 2)]["views"] == 2
    # the third day's file was not rewritten at all
    assert store.manifest().partition("video_daily", "2024-03-03") == untouched
    # and nothing else moved: a full recompute agrees with the incremental result
    incremental = _contents(store)
    rollups.run(store, full=True)
    assert _contents(store) == incremental


def test_a_late_preference_moves_the_users_later_days(store, q):
    b = Batch()
    b.view("u1", "s1", at("2024-03-01 02:00"), watch=600)
    b.view("u1", "s2", at("2024-03-02 02:00"), watch=600)
    b.write(store)
    rollups.run(store)
    assert [r["day"] for r in q("SELECT day FROM user_daily ORDER BY day")] == [
        date(2024, 3, 1),
        date(2024, 3, 2),
    ]
    Batch(events=[prefs("u1", at("2024-03-01 12:00"), tz="America/Los_Angeles")]).write(store)
    rollups.run(store)
    # the first view came before the preference and stays put; the second moves back a day
    assert [r["day"] for r in q("SELECT day FROM user_daily ORDER BY day")] == [
        date(2024, 3, 1),
    ]
    (row,) = q("SELECT * FROM user_daily")
    assert (row["sessions"], row["watch_time_min"]) == (2, 20.0)


def test_a_catalog_change_restates_the_days_the_video_was_viewed(store, q):
    b = Batch()
    b.catalog.append(video("v1", creator_id="c1"))
    b.view("u1", "s1", at("2024-03-01 10:00"), watch=100, intervals=[(0, 100)])
    b.view("u1", "s2", at("2024-03-02 10:00"), watch=100, intervals=[(0, 100)])
    b.write(store)
    rollups.run(store)
    assert q("SELECT count(*) AS n FROM chapter_daily") == [{"n": 0}]
    chapters = [
        {"title": "a", "start_s": 0, "end_s": 50},
        {"title": "b", "start_s": 50, "end_s": 600},
    ]
    Batch(catalog=[video("v1", creator_id="c2", chapters=chapters)]).write(store)
    report = rollups.run(store)
    assert report.plan.view_days == {date(2024, 3, 1), date(2024, 3, 2)}
    rows = q("SELECT day, chapter_index, views_reaching FROM chapter_daily ORDER BY ALL")
    assert [(r["day"].day, r["chapter_index"], r["views_reaching"]) for r in rows] == [
        (1, 0, 1),
        (1, 1, 1),
        (2, 0, 1),
        (2, 1, 1),
    ]
    assert {r["creator_id"] for r in q("SELECT creator_id FROM creator_daily")} == {"c2"}
    # a title change alone restates nothing
    Batch(catalog=[video("v1", title="new", creator_id="c2", chapters=chapters)]).write(store)
    assert rollups.run(store).plan.view_days == set()
