"""The read index: follows new snapshots, stays within its memory budget, falls back to SQL."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest

from warehouse import funnel, patches, queries, read_index, rollups
from warehouse.read_index import FUNNEL_STEPS, ReadIndex, wanted
from warehouse.store import Store

from .wh_builders import Batch, at, milestone, video

DAY1, DAY2 = date(2024, 3, 1), date(2024, 3, 2)


def _fill(store: Store) -> None:
    b = Batch()
    b.catalog += [video("v1", creator_id="c1", course_id="k1"), video("v2", creator_id="c1")]
    for i in range(6):
        b.view(f"u{i}", f"a{i}", at(f"2024-03-01 1{i}:00"), video="v1", watch=60 + i, startup=i)
        b.view(f"u{i}", f"b{i}", at(f"2024-03-02 1{i}:00"), video="v2", watch=30, startup=i / 3)
        b.milestones.append(milestone(f"u{i}", "v1", "started", at(f"2024-03-01 1{i}:01")))
    b.write(store)
    rollups.run(store)


def _answers(reader: queries.Reader) -> list[object]:
    return [
        queries.video_analytics(reader, "v1", DAY1, DAY2),
        queries.video_analytics(reader, "v2", DAY1, DAY2),
        queries.video_retention(reader, "v1"),
        queries.user_periods(reader, "u1", "daily", DAY1, DAY2),
        queries.user_dashboard(reader, "u2", at("2024-03-02 20:00")),
        queries.creator_dashboard(reader, "c1", DAY1, DAY2),
    ]


@pytest.fixture
def filled(store: Store) -> Store:
    _fill(store)
    return store


def test_the_funnel_counts_the_same_steps() -> None:
    assert FUNNEL_STEPS == funnel.STEPS


def test_indexed_answers_equal_sql_and_the_index_is_used(filled: Store) -> None:
    sql = queries.Reader(filled.root.parent, index_bytes=0)
    fast = queries.Reader(filled.root.parent)
    assert fast.wait_index(30)
    m = fast.snapshot().manifest
    assert set(fast.index._loaded) == {w.path for w in wanted(m)}  # everything fits
    assert repr(_answers(fast)) == repr(_answers(sql))
    fast.close()


def test_patched_partitions_are_indexed_merged_and_answer_as_sql(
    filled: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patches, "FOLD_FRACTION", 1e9)  # keep every patch a patch
    late = Batch()
    late.view("u1", "late1", at("2024-03-01 20:00"), video="v2", watch=50, startup=9)
    late.view("u7", "late2", at("2024-03-01 21:00"), video="v1", watch=40, startup=0.5)
    late.write(filled)
    assert rollups.run(filled).patched == {DAY1}
    sql = queries.Reader(filled.root.parent, index_bytes=0)
    fast = queries.Reader(filled.root.parent)
    assert fast.wait_index(30)
    m = fast.snapshot().manifest
    merged = {p for p in fast.index._loaded if p.endswith(read_index.MERGED)}
    assert merged and set(fast.index._loaded) == {w.path for w in wanted(m, str(filled.root))}
    for table in ("video_daily", "user_daily", "creator_daily", "views", "video_viewers"):
        assert fast.snapshot().view.files(table, [DAY1.isoformat()]) is not None, table
    answers = [*_answers(fast), queries.user_periods(fast, "u7", "daily", DAY1, DAY2)]
    assert repr(answers) == repr(
        [*_answers(sql), queries.user_periods(sql, "u7", "daily", DAY1, DAY2)]
    )
    assert answers[0]["totals"]["views"] == 7  # v1 on both days: 6 + the late one
    fast.close()
    sql.close()


def test_a_new_snapshot_is_picked_up_and_dropped_files_are_forgotten(filled: Store) -> None:
    reader = queries.Reader(filled.root.parent, cache_size=0)
    assert reader.wait_index(30)
    before = queries.video_analytics(reader, "v1", DAY2, DAY2)["totals"]["views"]
    old_day2 = {f.path for f in reader.snapshot().manifest.files("video_daily", ["2024-03-02"])}
    Batch().view("u9", "z", at("2024-03-02 12:00"), video="v1", watch=5).write(filled)
    rollups.run(filled)
    # Right after the commit: the new snapshot's answer (SQL for the files not indexed yet).
    assert queries.video_analytics(reader, "v1", DAY2, DAY2)["totals"]["views"] == before + 1
    assert reader.wait_index(30)
    snap = reader.snapshot()
    assert snap.view.files("video_daily", ["2024-03-02"]) is not None  # the new file is indexed
    assert not old_day2 & set(reader.index._loaded)  # the replaced one is gone
    assert queries.video_analytics(reader, "v1", DAY2, DAY2)["totals"]["views"] == before + 1
    reader.close()


def test_the_budget_bounds_memory_and_the_rest_is_answered_by_sql(filled: Store) -> None:
    full = queries.Reader(filled.root.parent)
    assert full.wait_index(30)
    sizes = {p: i.nbytes for p, i in full.index._loaded.items()}
    plan = [w.path for w in wanted(full.snapshot().manifest)]
    budget = sum(sizes[p] for p in plan[:4]) + 1  # room for the first few files only
    small = queries.Reader(filled.root.parent, index_bytes=budget)
    assert small.wait_index(30)
    assert 0 < small.index.used_bytes <= budget
    assert set(small.index._loaded) <= set(plan[: len(small.index._loaded) + 1])  # by priority
    assert len(small.index._loaded) < len(plan)
    assert repr(_answers(small)) == repr(_answers(full))
    full.close()
    small.close()


def test_no_index_when_the_budget_is_zero(filled: Store) -> None:
    reader = queries.Reader(filled.root.parent, index_bytes=0)
    assert reader.wait_index(0)
    assert reader.index.used_bytes == 0
    assert reader.snapshot().view.files("video_daily") is None
    assert queries.video_analytics(reader, "v1", DAY1, DAY1)["totals"]["views"] == 6


def test_close_stops_the_loader(filled: Store) -> None:
    index = ReadIndex(str(filled.root))
    index.follow(filled.manifest())
    assert index.wait(30)
    thread = index._thread
    assert thread is not None
    index.close()
    thread.join(5)
    assert not thread.is_alive()
    assert index.used_bytes == 0


def _blocked_loads(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """From now on the index loads a file only once the returned event is set."""
    gate = threading.Event()
    real = read_index.load

    def slow(
        table: str, path: str, merged: read_index.Merged | None = None
    ) -> read_index.FileIndex:
        gate.wait(30)
        return real(table, path, merged)

    monkeypatch.setattr(read_index, "load", slow)
    return gate


def test_with_stale_s_the_old_snapshot_is_served_until_the_new_one_is_indexed(
    filled: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = queries.Reader(filled.root.parent, cache_size=0, stale_s=60)
    assert reader.wait_index(30)
    old = reader.snapshot()
    old_day2 = {f.path for f in old.manifest.files("video_daily", ["2024-03-02"])}
    gate = _blocked_loads(monkeypatch)
    Batch().view("u9", "z", at("2024-03-02 12:00"), video="v1", watch=5).write(filled)
    rollups.run(filled)
    assert reader.snapshot() is old  # the new files are not indexed yet
    assert queries.video_analytics(reader, "v1", DAY2, DAY2)["totals"]["views"] == 0
    assert old_day2 <= set(reader.index._loaded)  # kept while the old snapshot is served
    gate.set()
    assert reader.wait_index(30)
    assert reader.snapshot() is not old
    assert queries.video_analytics(reader, "v1", DAY2, DAY2)["totals"]["views"] == 1
    assert not old_day2 & set(reader.index._loaded)  # released after the swap
    reader.close()


def test_stale_s_bounds_how_long_the_old_snapshot_is_served(
    filled: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = queries.Reader(filled.root.parent, cache_size=0, stale_s=0.2)
    assert reader.wait_index(30)
    gate = _blocked_loads(monkeypatch)
    Batch().view("u9", "z", at("2024-03-02 12:00"), video="v1", watch=5).write(filled)
    rollups.run(filled)
    assert queries.video_analytics(reader, "v1", DAY2, DAY2)["totals"]["views"] == 0
    time.sleep(0.3)
    # Not indexed yet, but stale for too long: the newest snapshot, answered by SQL.
    assert reader.snapshot().view.files("video_daily", ["2024-03-02"]) is None
    assert queries.video_analytics(reader, "v1", DAY2, DAY2)["totals"]["views"] == 1
    gate.set()
    reader.close()
