"""The demo catalog: the same every time, valid for the API, series and courses in order."""

from __future__ import annotations

import pytest

from ingest_api.contract import CATALOG_VIDEO
from jobs.demo_catalog import Catalog, Kind, build_demo_catalog

CATALOG = build_demo_catalog()


def test_the_demo_catalog_is_the_same_every_time_and_valid_for_the_api() -> None:
    again = build_demo_catalog()
    assert [v.catalog_doc() for v in again.videos] == [v.catalog_doc() for v in CATALOG.videos]
    for v in CATALOG.videos:
        CATALOG_VIDEO.validate_python(v.catalog_doc())
    durations = [v.duration_s for v in CATALOG.videos]
    assert min(durations) >= 180 and max(durations) <= 7200
    assert {v.kind for v in CATALOG.videos} == set(Kind)
    assert sum(1 for v in CATALOG.videos if v.chapters) >= 10
    assert len({v.creator_id for v in CATALOG.videos}) >= 5


def test_series_and_courses_play_in_order() -> None:
    first = CATALOG.get("lighthouse-s01e08")
    nxt = CATALOG.next_after(first.video_id)
    assert nxt is not None and (nxt.season, nxt.episode) == (2, 1)
    lessons = CATALOG.sequence("course-py-data")
    assert [v.lesson_order for v in lessons] == list(range(1, len(lessons) + 1))
    assert len({v.module_id for v in lessons}) == 4
    assert CATALOG.next_after(lessons[-1].video_id) is None
    assert CATALOG.next_after("film-01") is None


def test_a_catalog_refuses_duplicate_ids() -> None:
    with pytest.raises(ValueError, match="unique"):
        Catalog([CATALOG.videos[0], CATALOG.videos[0]])
