"""A user's actions on one video: rating, tags, notes, bookmarks, skip — all idempotent."""

from __future__ import annotations

from streams.model import watch_state
from streams.model.personal import Bookmark
from streams.model.video_state import VideoState, WatchStatus

from .player import event


def act(*events: object, st: VideoState | None = None) -> VideoState:
    for ev in events:
        st, out = watch_state.advance(st, ev)  # type: ignore[arg-type]
        assert not out
    assert st is not None
    return st


def test_rating_tags_notes_and_bookmarks_are_kept_on_the_video() -> None:
    st = act(
        event("rate", video_id="v1", rating=4),
        event("tag", video_id="v1", tag="security"),
        event("tag", video_id="v1", tag="rust"),
        event("tag", video_id="v1", tag="rust", remove=True),
        event("note", video_id="v1", text="watch the demo again", position_s=42.5),
        event("bookmark", video_id="v1", position_s=90, label="the trick"),
        event("bookmark", video_id="v1", position_s=30),
    )
    assert st.ann is not None
    assert st.ann.rating == 4
    assert st.ann.tags == ("security",)
    assert [(n.text, n.pos_ms) for n in st.ann.notes] == [("watch the demo again", 42_500)]
    assert st.ann.bookmarks == (Bookmark(30_000, None), Bookmark(90_000, "the trick"))


def test_a_redelivered_note_is_kept_once() -> None:
    note = event("note", video_id="v1", text="hello")
    st = act(note, note)
    assert st.ann is not None
    assert len(st.ann.notes) == 1


def test_removing_the_last_annotation_leaves_no_trace_in_the_state() -> None:
    st = act(
        event("bookmark", video_id="v1", position_s=30),
        event("bookmark", video_id="v1", position_s=30, remove=True),
    )
    assert st.ann is None


def test_skip_does_not_erase_a_completion() -> None:
    st = act(event("mark_watched", target={"kind": "video", "video_id": "v1"}))
    assert act(event("skip", video_id="v1"), st=st).status is WatchStatus.COMPLETED


def test_marks_on_a_season_do_not_touch_a_video_state() -> None:
    ev = event("mark_watched", target={"kind": "season", "series_id": "s", "season": 1})
    assert watch_state.video_id_of(ev) is None
