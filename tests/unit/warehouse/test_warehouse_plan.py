from __future__ import annotations

from datetime import date

from warehouse.manifest import DataFile, DirtyKind, Manifest
from warehouse.plan import plan


def test_sessions_dirty_their_day_and_the_neighbouring_local_days():
    p = plan({DirtyKind.SESSIONS: {"2024-03-31": 4}})
    assert p.view_days == {date(2024, 3, 31)}
    assert p.local_days == {date(2024, 3, 30), date(2024, 3, 31), date(2024, 4, 1)}
    assert p.weeks == {date(2024, 3, 25), date(2024, 4, 1)}
    assert p.months == {date(2024, 3, 1), date(2024, 4, 1)}
    assert not p.course_progress


def test_view_events_dirty_the_day_before_too():
    p = plan({DirtyKind.VIEW_EVENTS: {"2024-03-01": 1}})
    assert p.view_days == {date(2024, 2, 29), date(2024, 3, 1)}


def test_preferences_dirty_local_days_up_to_the_newest():
    p = plan({DirtyKind.PREFS: {"2024-03-01": 1}}, newest_local_day=date(2024, 3, 4))
    assert p.pref_days == {date(2024, 3, 1)}
    assert sorted(p.local_days) == [date(2024, 2, d) for d in (29,)] + [
        date(2024, 3, d) for d in (1, 2, 3, 4)
    ]


def test_milestones_and_catalog_recompute_course_progress():
    assert plan({DirtyKind.MILESTONES: {"2024-03-01": 1}}).course_progress
    assert plan({DirtyKind.CATALOG: {"": 1}}).course_progress
    assert plan({}).empty


def test_a_mark_set_again_after_the_rollups_snapshot_survives_its_commit():
    m = Manifest(version=7)
    m.dirty = {"sessions": {"2024-03-01": 5, "2024-03-02": 7}}
    m.clear(DirtyKind.SESSIONS, {"2024-03-01": 5, "2024-03-02": 6})  # the rollup read version 6
    assert m.dirty == {"sessions": {"2024-03-02": 7}}


def test_manifest_round_trips_through_json():
    m = Manifest(version=3, committed_at=12.5)
    m.add_file("events", "2024-03-01", DataFile("tier1/events/date=2024-03-01/p.parquet", 9))
    m.mark(DirtyKind.SESSIONS, "2024-03-01")
    m.trash["old.parquet"] = 1.0
    back = Manifest.from_json(m.to_json())
    assert back == m
