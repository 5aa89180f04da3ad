"""Tier 1: date partitions, idempotent deduplicated appends, the catalog, compaction."""

from __future__ import annotations

from datetime import date

from warehouse.manifest import DirtyKind
from warehouse.store import Store, WarehouseConfig
from warehouse.tier1 import compact, write_batch

from .wh_builders import Batch, at, event, milestone, session, video


def _batch() -> Batch:
    b = Batch()
    b.view("u1", "s1", at("2024-03-01 23:59"))
    b.events.append(event("heartbeat", "u1", at("2024-03-02 00:00:09"), session="s1", seq=1))
    b.milestones.append(milestone("u1", "v1", "started", at("2024-03-02 00:00:01")))
    return b


def test_records_land_in_their_utc_date_partition_and_mark_days_dirty(store, q):
    result = _batch().write(store)
    assert result.touched == {
        ("events", date(2024, 3, 1)),
        ("events", date(2024, 3, 2)),
        ("sessions", date(2024, 3, 1)),
        ("milestones", date(2024, 3, 2)),
    }
    assert result.written == {"events": 2, "sessions": 1, "milestones": 1}
    m = store.manifest()
    assert m.keys("events") == ["2024-03-01", "2024-03-02"]
    assert set(m.marks(DirtyKind.VIEW_EVENTS)) == {"2024-03-01"}  # the start event's day only
    assert set(m.marks(DirtyKind.SESSIONS)) == {"2024-03-01"}
    assert set(m.marks(DirtyKind.MILESTONES)) == {"2024-03-02"}
    rows = q("SELECT type, date FROM events ORDER BY ts")
    assert rows == [
        {"type": "start", "date": date(2024, 3, 1)},
        {"type": "heartbeat", "date": date(2024, 3, 2)},
    ]


def test_writing_the_same_batch_twice_changes_nothing(store, q):
    b = _batch()
    b.write(store)
    before = store.manifest()
    again = b.write(store)
    assert again.version is None
    assert again.written == {}
    assert again.duplicates == {"events": 2, "sessions": 1, "milestones": 1}
    assert store.manifest().version == before.version
    assert q("SELECT count(*) AS n FROM events") == [{"n": 2}]


def test_repeats_inside_a_batch_and_overlapping_batches_keep_one_row_per_id(store, q):
    e1 = event("heartbeat", "u1", at("2024-03-01 10:00"), session="s1")
    e2 = event("heartbeat", "u1", at("2024-03-01 10:00:10"), session="s1", seq=1)
    first = write_batch(store, events=[e1, e1])
    assert (first.written, first.duplicates) == ({"events": 1}, {"events": 1})
    second = write_batch(
        store, events=[e1, e2], sessions=[session("u1", "s1", at("2024-03-01 10:00"))]
    )
    assert second.written == {"events": 1, "sessions": 1}
    assert second.duplicates == {"events": 1}
    ids = [r["event_id"] for r in q("SELECT event_id FROM events ORDER BY ts")]
    assert ids == [e1.event_id, e2.event_id]


def test_catalog_keeps_the_latest_upsert_and_learns_unknown_videos_from_starts(store, q):
    write_batch(store, catalog=[video("v1", title="old", creator_id="c1")])
    write_batch(
        store,
        catalog=[video("v1", title="new", creator_id="c1")],
        events=[
            event("start", "u1", at("2024-03-01 10:00"), session="s1", vid="v1",
                  video={"title": "from player"}),
            event("start", "u1", at("2024-03-01 11:00"), session="s2", vid="v9",
                  duration_s=42.0, video={"title": "unknown", "channel": "yt"}),
        ],
    )  # fmt: skip
    rows = {r["video_id"]: r for r in q("SELECT * FROM catalog")}
    assert rows["v1"]["title"] == "new" and rows["v1"]["origin"] == "catalog"
    assert (rows["v9"]["title"], rows["v9"]["channel"], rows["v9"]["duration_s"]) == (
        "unknown",
        "yt",
        42.0,
    )
    assert rows["v9"]["origin"] == "event"
    # the real catalog entry replaces what the player said
    write_batch(store, catalog=[video("v9", title="official", channel="mine")])
    (v9,) = q("SELECT * FROM catalog WHERE video_id = 'v9'")
    assert (v9["title"], v9["origin"]) == ("official", "catalog")
    # re-publishing an identical entry is not a change
    assert (
        write_batch(store, catalog=[video("v9", title="official", channel="mine")]).version is None
    )


def test_compaction_merges_small_files_and_keeps_every_row_once(tmp_path, q):
    store = Store.open(tmp_path, WarehouseConfig(compact_min_files=3))
    events = [
        event("heartbeat", "u1", at(f"2024-03-01 10:00:{i:02d}"), session="s", seq=i)
        for i in range(6)
    ]
    for i in range(0, 6, 2):
        write_batch(store, events=events[i : i + 2])
    assert len(store.manifest().partition("events", "2024-03-01")) == 3
    assert compact(store, "events", "2024-03-01")
    files = store.manifest().partition("events", "2024-03-01")
    assert len(files) == 1 and files[0].rows == 6
    # dedup still works against the compacted file
    assert write_batch(store, events=events).version is None


def test_a_file_never_committed_is_invisible_and_vacuum_removes_it_later(tmp_path):
    now = [1_000_000.0]
    store = Store.open(tmp_path, WarehouseConfig(snapshot_ttl_s=60), clock=lambda: now[0])
    con = store.connect()
    from warehouse.schema import EVENTS

    rows = EVENTS.empty_select().removesuffix(" LIMIT 0") + " FROM range(3)"
    orphan = store.write_query(con, rows, EVENTS, "2024-03-01")
    con.close()
    assert orphan is not None and (store.root / orphan.path).exists()
    assert store.manifest().files("events") == []
    assert store.vacuum() == []  # too young: a writer may still be about to commit it
    now[0] += 10**10
    assert store.vacuum() == [orphan.path]
    assert not (store.root / orphan.path).exists()


def test_compaction_is_size_tiered(tmp_path):
    from warehouse.manifest import DataFile
    from warehouse.tier1 import _mergeable

    store = Store(tmp_path, WarehouseConfig(compact_min_files=4, compact_small_rows=10_000))
    tiny = [DataFile(f"t{i}", 3) for i in range(4)]  # 4 files of size class 0: merged
    mid = [DataFile(f"m{i}", 100) for i in range(3)]  # only 3 of class 3: left alone
    big = [DataFile(f"b{i}", 50_000) for i in range(9)]  # not small at all
    assert _mergeable(store, tiny + mid + big) == [tiny]
