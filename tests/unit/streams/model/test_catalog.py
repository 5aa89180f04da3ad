"""The catalog view: series in (season, episode) order, shelves and their contents."""

from __future__ import annotations

from ingest_api.contract import CATALOG_VIDEO, EVENT, StartEvent
from streams.model.catalog import Catalog, VideoMeta, meta_from_catalog, meta_from_start

from .library import episode, library


def test_episodes_are_ordered_by_season_then_episode_whatever_the_upsert_order() -> None:
    cat = Catalog([episode("x", 2, 1), episode("x", 1, 10), episode("x", 1, 2)])
    assert [e.video_id for e in cat.episodes("x")] == ["x-s1e2", "x-s1e10", "x-s2e1"]


def test_an_upsert_moves_a_video_to_its_new_place() -> None:
    cat = library()
    cat.upsert(VideoMeta("got-s1e3", 1800.0, "bb", 1, 3, "tv"))
    assert [e.video_id for e in cat.episodes("got")][-1] == "got-s2e2"
    assert [e.video_id for e in cat.episodes("bb")] == ["bb-s1e1", "bb-s1e2", "got-s1e3"]


def test_shelves_list_their_series_and_movies() -> None:
    cat = library()
    assert cat.shelf("tv").series == ("bb", "got")
    assert cat.shelf("movies").movies == ("m1", "m2", "m3")
    assert cat.shelf("nope").series == ()


def test_metadata_from_a_catalog_upsert_and_from_a_start() -> None:
    v = CATALOG_VIDEO.validate_python(
        {
            "video_id": "e1",
            "duration_s": 1200,
            "series_id": "s",
            "season": 2,
            "episode": 5,
            "chapters": [{"title": "intro", "start_s": 0, "end_s": 30}],
        }
    )
    meta = meta_from_catalog(v)
    assert (meta.series_id, meta.season, meta.episode, meta.duration_s) == ("s", 2, 5, 1200)
    assert meta.chapters[0].title == "intro"
    start = EVENT.validate_python(
        {
            "event_id": "evt-00000001",
            "type": "start",
            "ts": "2026-11-01T12:00:00Z",
            "user_id": "u",
            "device_id": "d",
            "video_id": "m9",
            "session_id": "s",
            "seq": 0,
            "position_s": 0,
            "duration_s": 90,
        }
    )
    assert isinstance(start, StartEvent)
    assert meta_from_start(start) == VideoMeta("m9", 90.0)
