"""Video tables on small fixtures whose figures are worked out by hand in the comments."""

from __future__ import annotations

from datetime import date

import pytest

from warehouse import rollups

from .wh_builders import Batch, at, event, video

D = date(2024, 3, 1)


def test_video_daily_counts_views_exits_uniques_and_quality(store, q):
    b = Batch()
    # u1 twice: 100 s (startup 1.0) and 300 s completed (startup 3.0, rebuffer 10)
    b.view("u1", "s1", at("2024-03-01 10:00"), watch=100, startup=1.0)
    b.view("u1", "s2", at("2024-03-01 11:00"), watch=300, startup=3.0, rebuffer=10, completed=True)
    # u2: a `play` (no `start`) also makes a view: 50 s, startup 2.0, rebuffer 40
    b.view("u2", "s3", at("2024-03-01 12:00"), how="play", watch=50, startup=2.0, rebuffer=40)
    # u3 left before the first frame, no error: an exit before start
    b.view("u3", "s4", at("2024-03-01 13:00"))
    # u4 never played either, with an error: a startup failure, not an exit
    b.view("u4", "s5", at("2024-03-01 14:00"), errors=1)
    # u6 began at 23:59:50 but its `play` came after midnight: still a view of the 1st, 30 s
    b.view("u6", "s7", at("2024-03-01 23:59:50"), how="play",
           event_at=at("2024-03-02 00:00:05"), watch=30)  # fmt: skip
    # u5's session had no start or play event: not a view
    b.sessions += Batch().view("u5", "s6", at("2024-03-01 15:00"), watch=999).sessions
    b.events.append(event("heartbeat", "u5", at("2024-03-01 15:00"), session="s6"))
    # another video, to be sure rows are per video
    b.view("u1", "s8", at("2024-03-01 16:00"), video="v2", watch=60, startup=0.5)
    b.write(store)
    rollups.run(store)

    rows = q("SELECT * FROM video_daily WHERE day = ? ORDER BY video_id", [D])
    assert [r["video_id"] for r in rows] == ["v1", "v2"]
    v1 = rows[0]
    assert v1["views"] == 6
    assert v1["exits_before_start"] == 1
    assert v1["startup_failures"] == 1
    assert v1["unique_viewers"] == 5  # u1 u2 u3 u4 u6
    assert v1["watch_time_s"] == 480  # 100 + 300 + 50 + 30
    assert v1["avg_watch_time_s"] == 80  # 480 / 6
    assert v1["completions"] == 1
    assert v1["completion_rate"] == pytest.approx(1 / 6)
    # startup times 1, 2, 3: median 2; p95 at rank 0.95 * 2 = 1.9 -> 2 + 0.9 * (3 - 2)
    assert v1["startup_time_p50_s"] == pytest.approx(2.0)
    assert v1["startup_time_p95_s"] == pytest.approx(2.9)
    assert v1["rebuffer_ratio"] == pytest.approx(50 / (480 + 50))
    assert v1["errors"] == 1
    assert rows[1]["views"] == 1 and rows[1]["watch_time_s"] == 60


def test_video_retention_shares_and_replays(store, q):
    # duration 100 s, so bucket b is sampled at second b + 0.5
    b = Batch()
    b.view("u1", "a", at("2024-03-01 10:00"), duration=100, watch=50, intervals=[(0, 50)])
    # replays 10..20 inside one view: plays of buckets 10..19 count twice
    b.view("u2", "b", at("2024-03-01 10:00"), duration=100, watch=40,
           intervals=[(0, 20), (10, 30)])  # fmt: skip
    b.view("u3", "c", at("2024-03-01 10:00"), duration=100)  # never played
    b.view("u4", "d", at("2024-03-02 10:00"), duration=100, watch=10, intervals=[(90, 100)])
    b.write(store)
    rollups.run(store)

    curve = {
        r["bucket"]: r
        for r in q("SELECT * FROM video_retention WHERE video_id = 'v1' ORDER BY bucket")
    }
    assert len(curve) == 100
    assert all(r["views"] == 4 for r in curve.values())
    expect = {  # bucket: (views covering it, plays)
        0: (2, 2),
        5: (2, 2),
        15: (2, 3),  # u1 once, u2 twice
        25: (2, 2),
        40: (1, 1),
        49: (1, 1),
        50: (0, 0),
        89: (0, 0),
        90: (1, 1),
        99: (1, 1),
    }
    for bucket, (covered, plays) in expect.items():
        assert curve[bucket]["covered_views"] == covered, bucket
        assert curve[bucket]["plays"] == plays, bucket
        assert curve[bucket]["share_of_views"] == pytest.approx(covered / 4)
        assert curve[bucket]["plays_per_view"] == pytest.approx(plays / 4)
    # a curve per day exists too, and day 1 alone has 3 views
    (day1,) = q("SELECT * FROM video_retention_daily WHERE day = ?", [D])
    assert (day1["views"], day1["covered_views"][15], day1["plays"][15]) == (3, 2, 3)


def test_video_retention_exceeds_one_when_everyone_replays(store, q):
    b = Batch()
    b.view("u1", "a", at("2024-03-01 10:00"), duration=100, watch=80,
           intervals=[(0, 40), (0, 40)])  # fmt: skip
    b.write(store)
    rollups.run(store)
    (row,) = q("SELECT * FROM video_retention WHERE video_id = 'v1' AND bucket = 10")
    assert row["share_of_views"] == 1.0
    assert row["plays_per_view"] == 2.0


def test_chapter_daily_reach_watch_time_and_drop_off(store, q):
    b = Batch()
    b.catalog.append(
        video(
            "v3",
            300,
            chapters=[
                {"title": "Intro", "start_s": 0, "end_s": 100},
                {"title": "Middle", "start_s": 100, "end_s": 200},
                {"title": "End", "start_s": 200, "end_s": 300},
            ],
        )
    )
    t = at("2024-03-01 09:00")
    # 1: plays 0..150 at 1x and leaves in Middle
    b.view("u1", "s1", t, video="v3", watch=150, intervals=[(0, 150)])
    # 2: plays everything at 2x (150 s wall for 300 s media) and completes
    b.view("u2", "s2", t, video="v3", watch=150, played=300, intervals=[(0, 300)],
           completed=True)  # fmt: skip
    # 3: 0..40, seeks to 250, plays to 280 and leaves in End
    b.view("u3", "s3", t, video="v3", watch=70, intervals=[(0, 40), (250, 280)])
    # 4: never played
    b.view("u4", "s4", t, video="v3")
    b.write(store)
    rollups.run(store)

    rows = q("SELECT * FROM chapter_daily WHERE video_id = 'v3' ORDER BY chapter_index")
    got = [
        (r["title"], r["views_reaching"], r["watch_time_s"], r["drop_off"], r["drop_off_rate"])
        for r in rows
    ]
    assert got == [
        ("Intro", 3, pytest.approx(100 + 100 * 0.5 + 40), 0, 0.0),
        ("Middle", 2, pytest.approx(50 + 100 * 0.5), 1, 0.5),
        ("End", 2, pytest.approx(100 * 0.5 + 30), 1, 0.5),
    ]


def test_creator_daily_sums_videos_and_counts_viewers_once(store, q):
    b = Batch()
    b.catalog += [video("v1", creator_id="c1"), video("v2", creator_id="c1"),
                  video("v3", creator_id="c2")]  # fmt: skip
    t = at("2024-03-01 09:00")
    b.view("u1", "s1", t, video="v1", watch=100, completed=True)
    b.view("u1", "s2", t, video="v2", watch=50)  # same viewer, other video of c1
    b.view("u2", "s3", t, video="v2", watch=30)
    b.view("u3", "s4", t, video="v3", watch=10)
    b.write(store)
    rollups.run(store)

    rows = {r["creator_id"]: r for r in q("SELECT * FROM creator_daily WHERE day = ?", [D])}
    c1 = rows["c1"]
    assert (c1["videos_viewed"], c1["views"], c1["unique_viewers"]) == (2, 3, 2)
    assert c1["watch_time_s"] == 180
    assert c1["completions"] == 1
    assert c1["completion_rate"] == pytest.approx(1 / 3)
    assert (rows["c2"]["views"], rows["c2"]["unique_viewers"]) == (1, 1)


def test_unique_viewers_over_a_range_are_exact(store):
    from warehouse import queries

    b = Batch()
    b.view("u1", "s1", at("2024-03-01 09:00"), watch=10)
    b.view("u1", "s2", at("2024-03-02 09:00"), watch=10)  # same viewer, next day
    b.view("u2", "s3", at("2024-03-02 10:00"), watch=10)
    b.view("u2", "s4", at("2024-03-02 11:00"), watch=10)
    b.write(store)
    rollups.run(store)

    reader = queries.Reader(store.root.parent)
    got = queries.video_analytics(reader, "v1", date(2024, 3, 1), date(2024, 3, 2))
    assert [r["unique_viewers"] for r in got["rows"]] == [1, 2]  # per day
    assert got["totals"]["unique_viewers"] == 2  # not 1 + 2
    assert got["totals"]["views"] == 4
    one_day = queries.video_analytics(reader, "v1", date(2024, 3, 2), date(2024, 3, 2))
    assert one_day["totals"]["unique_viewers"] == 2
