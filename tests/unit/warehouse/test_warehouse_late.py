"""Late data below the day grain: a late batch that changes no view recomputes nothing, one
that does recomputes its days, and either way the tables equal a full recompute, row for row."""

from __future__ import annotations

import random
from datetime import date, timedelta

import orjson
import pytest

from warehouse import late, patches, rollups
from warehouse.manifest import DirtyKind, Manifest
from warehouse.plan import Plan
from warehouse.schema import SESSIONS, TIER2_TABLES, VIEW_TOUCHES, VIEWS
from warehouse.store import Store
from warehouse.views import relation_sql

from .test_warehouse_incremental import _contents
from .wh_builders import Batch, at, event, prefs, session, video

DAYS = ("2024-03-01", "2024-03-02", "2024-03-03")


def _base(rng: random.Random) -> tuple[Batch, list[tuple[str, str, str]]]:
    """Views on three days (some near midnight), plus sessions whose start event is missing
    (returned: user, session, day), so a late start can turn them into views."""
    b = Batch()
    chapters = [{"title": "a", "start_s": 0, "end_s": 60}, {"title": "b", "start_s": 60,
                "end_s": 300}]  # fmt: skip
    b.catalog += [video(f"v{i}", duration=300.0 + 60 * i, creator_id=f"c{i % 2}",
                        channel=f"ch{i % 3}", chapters=chapters if i % 2 == 0 else [])
                  for i in range(5)]  # fmt: skip
    b.events.append(prefs("u3", at("2024-02-28 00:00"), tz="America/New_York"))
    b.events.append(prefs("u5", at("2024-03-02 12:00"), daily_goal_minutes=1))
    startless = []
    for n in range(60):
        day = rng.choice(DAYS)
        hour = rng.choice((0, 1, 12, 22, 23))
        user, sid = f"u{rng.randrange(12)}", f"s{n}"
        kw = {
            "video": f"v{rng.randrange(5)}",
            "watch": float(rng.choice((0, 30, 200, 900))),
            "intervals": [(0.0, float(rng.randrange(10, 300)))],
            "completed": rng.random() < 0.3,
            "tz": rng.choice((None, "Europe/Paris", "Asia/Tokyo")),
        }
        started = at(f"{day} {hour:02d}:{rng.randrange(60):02d}")
        if rng.random() < 0.2:
            b.sessions.append(session(user, sid, started, **kw))
            startless.append((user, sid, day))
        else:
            b.view(user, sid, started, **kw)
    return b, startless


def _late(rng: random.Random, startless: list[tuple[str, str, str]], n: int) -> Batch:
    """A mixed late batch: starts of sessions nobody closed (no view), starts for sessions that
    had none (new views, some after midnight), whole late views, repeated starts."""
    late = Batch()
    for i in range(n):
        kind = rng.randrange(4)
        day = rng.choice(DAYS)
        if kind == 0:  # a start whose session record never arrived: changes no view
            late.events.append(event("start", "u1", at(f"{day} 23:50"), session=f"open{i}"))
        elif kind == 1 and startless:  # the missing start of a stored session
            user, sid, d = startless.pop()
            when = at(f"{d} 23:59") + timedelta(minutes=rng.choice((0, 2)))  # maybe next day
            late.events.append(event("play", user, when, session=sid))
        elif kind == 2:  # a whole late view
            late.view(f"u{rng.randrange(14)}", f"late{i}", at(f"{day} 23:30"), video="v2",
                      watch=120.0, intervals=[(0.0, 100.0)])  # fmt: skip
        else:  # a second start of a stored view: changes nothing
            late.events.append(event("start", "u1", at(f"{day} 05:00"), session="s0"))
    return late


def test_late_starts_without_sessions_recompute_nothing(store: Store) -> None:
    b, _ = _base(random.Random(1))
    b.write(store)
    rollups.run(store)
    before = _contents(store)
    tier2 = {t.name: store.manifest().tables.get(t.name) for t in TIER2_TABLES}

    late = Batch()
    for i in range(50):
        late.events.append(event("start", f"u{i % 7}", at("2024-03-02 23:00"), session=f"x{i}"))
    assert late.write(store).version is not None
    report = rollups.run(store)

    assert report.version is not None  # the marks are cleared ...
    assert report.plan.view_days == frozenset() and not report.rewritten  # ... nothing rebuilt
    m = store.manifest()
    assert not m.dirty and not m.keys(VIEW_TOUCHES.name)
    assert {t.name: m.tables.get(t.name) for t in TIER2_TABLES} == tier2  # no file rewritten
    assert _contents(store) == before
    rollups.run(store, full=True)
    assert _contents(store) == before


@pytest.mark.parametrize(("seed", "fold"), [(2, 0.1), (3, 0.1), (4, 0.1), (5, 0.0), (6, 1e9)])
def test_incremental_late_rollup_equals_a_full_recompute(
    store: Store, seed: int, fold: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Late views patch their days (fold 1e9: patches pile onto patches; 0: every patch is
    folded into a plain file at once), and every table reads as a full recompute's."""
    monkeypatch.setattr(patches, "FOLD_FRACTION", fold)
    rng = random.Random(seed)
    b, startless = _base(rng)
    b.write(store)
    rollups.run(store)
    patched = 0
    for _ in range(3):
        _late(rng, startless, 6).write(store)
        patched += len(rollups.run(store).patched)
        assert store.vacuum() == []  # no file left behind by a patch replaced in the same run
        incremental = _contents(store)
        m = store.manifest()
        has_patches = any(f.scope for t in TIER2_TABLES for f in m.files(t.name))
        if fold in (0.0, 1e9):  # (at 0.1, whether a patch is folded depends on its size)
            assert has_patches == (fold > 0 and patched > 0)
        if seed % 2:  # else: the next round patches the patches
            rollups.run(store, full=True)
            assert _contents(store) == incremental
        assert not store.manifest().keys(VIEW_TOUCHES.name)
    rollups.run(store, full=True)
    assert not any(f.scope for t in TIER2_TABLES for f in store.manifest().files(t.name))
    assert _contents(store) == incremental
    assert patched > 0


def test_a_late_start_of_a_stored_session_is_a_new_view(store: Store) -> None:
    b = Batch()
    b.view("u1", "a", at("2024-03-01 10:00"), watch=60)
    b.sessions.append(session("u2", "b", at("2024-03-01 23:58"), watch=60))  # no start yet
    b.write(store)
    rollups.run(store)
    late = Batch()
    late.events.append(event("start", "u2", at("2024-03-02 00:01"), session="b"))  # next day
    late.write(store)
    report = rollups.run(store)
    assert date(2024, 3, 1) in report.patched  # a few changed views: patched, not redone
    rows = _contents(store)["video_daily"]
    assert len(rows) == 1 and rows[0][1] == "2"  # (video_id, views=2, ...)


def test_marks_without_touches_are_opaque() -> None:
    m = Manifest(version=3)
    m.mark(DirtyKind.SESSIONS, "2024-03-01", touches=True)
    assert m.tracked(DirtyKind.SESSIONS, "2024-03-01")
    m.version = 4
    m.mark(DirtyKind.SESSIONS, "2024-03-01")  # e.g. erase-user rewrote the day
    m.version = 5
    m.mark(DirtyKind.SESSIONS, "2024-03-01", touches=True)
    assert not m.tracked(DirtyKind.SESSIONS, "2024-03-01")  # the opaque change is still due
    m.clear(DirtyKind.SESSIONS, {"2024-03-01": 5})
    assert m.dirty == {} and m.opaque == {}
    # a manifest written before touches existed: every mark is opaque
    doc = orjson.loads(Manifest(version=1, dirty={"sessions": {"2024-03-01": 1}}).to_json())
    del doc["opaque"]
    old = Manifest.from_json(orjson.dumps(doc))
    assert not old.tracked(DirtyKind.SESSIONS, "2024-03-01")


def test_a_patch_that_removes_views_equals_a_full_recompute(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The patch path also handles stored views that go (the sink's data never removes one,
    so this drives it directly): every table equals a full recompute over the same tier 1."""
    monkeypatch.setattr(patches, "FOLD_FRACTION", 1e9)  # keep the patches patches
    rng = random.Random(7)
    b, _ = _base(rng)
    b.write(store)
    rollups.run(store)
    day = date(2024, 3, 2)
    con = store.connect()
    try:
        m = store.manifest()
        views = relation_sql(store, VIEWS, m.files(VIEWS.name, [day.isoformat()]))
        gone = con.execute(
            f"SELECT session_key FROM ({views}) WHERE watch_time_s > 0 ORDER BY session_key LIMIT 3"
        ).fetchall()
        keys = [k for (k,) in gone]
        assert len(keys) == 3
        # tier 1 loses those sessions (no dirty mark: only the patch below reacts)
        (old,) = m.partition(SESSIONS.name, day.isoformat())
        new = store.write_query(
            con,
            f"SELECT * FROM read_parquet('{store.abs(old.path)}') WHERE session_key NOT IN "
            f"({', '.join(repr(k) for k in keys)})",
            SESSIONS,
            day.isoformat(),
        )
        assert new is not None
        store.commit(lambda m2: m2.set_partition(SESSIONS.name, day.isoformat(), [new]))
    finally:
        con.close()

    run = rollups._Run(store, store.manifest(), {})
    try:
        cols = VIEWS.select_list()
        keyed = f"session_key IN ({', '.join(repr(k) for k in keys)})"
        stored = relation_sql(store, VIEWS, run.work.files(VIEWS.name, [day.isoformat()]))
        run.con.execute(
            f"CREATE TABLE late_removed_t AS SELECT {cols} FROM ({stored}) WHERE {keyed}"
        )
        run.con.execute(f"CREATE TABLE late_added_t AS SELECT {cols} FROM ({stored}) LIMIT 0")
        late.patch_day(run, day, "t")
        run._publish(Plan(), frozenset({day}))
    finally:
        run.close()
    patched = _contents(store)
    assert any(f.scope and not f.adds for f in store.manifest().files(VIEWS.name))
    rollups.run(store, full=True)
    assert _contents(store) == patched
