"""Per-user state: settings, device modes, marks, queues, and the bounded indexes."""

from __future__ import annotations

from streams.model import user_state
from streams.model.outputs import Activity, ActivityKind
from streams.model.rules import Rules
from streams.model.user_state import SeriesProgress

from .library import library
from .player import event

CAT = library()


def apply(*events: object, st: user_state.UserState | None = None) -> user_state.UserState:
    for ev in events:
        st = user_state.advance(st, ev, CAT)  # type: ignore[arg-type]
    assert st is not None
    return st


def test_preferences_merge_field_by_field() -> None:
    st = apply(
        event("set_preferences", preferences={"completion_threshold": 0.8, "tz": "Europe/Paris"}),
        event("set_preferences", preferences={"daily_goal_minutes": 30}),
    )
    assert (st.prefs.completion_threshold, st.prefs.tz, st.prefs.daily_goal_minutes) == (
        0.8,
        "Europe/Paris",
        30,
    )


def test_a_repeated_action_is_a_no_op() -> None:
    add = event("queue_add", video_id="m1")
    move = event("queue_move", video_id="m1", position=0, priority=9)
    st = apply(add, event("queue_add", video_id="m2"), move)
    assert apply(add, move, st=st) is st


def test_playback_does_not_touch_the_user_state() -> None:
    st = apply(event("set_isolation", mode="silo"))
    hb = event("heartbeat", video_id="v", session_id="s", seq=1, position_s=1.0, device_id="d1")
    assert user_state.advance(st, hb, CAT) is st


def test_isolation_modes_are_stored_per_device() -> None:
    st = apply(
        event("set_isolation", device_id="tv", mode="shout"),
        event("set_isolation", device_id="kid", mode="silo"),
    )
    assert {k: v.value for k, v in st.modes.items()} == {"tv": "shout", "kid": "silo"}


def test_marks_go_to_the_hierarchy() -> None:
    st = apply(event("mark_watched", target={"kind": "series", "series_id": "got"}))
    assert st.marks.series == {"got"}


def test_activity_keeps_a_bounded_recency_index() -> None:
    rules = Rules(recent_videos=3)
    st = None
    for i in range(5):
        act = Activity(ActivityKind.PLAYED, f"v{i}", "d1", 1000 * i)
        st = user_state.note_activity(st, act, CAT, rules)
    assert st is not None
    assert [v for v, _ in st.recent] == ["v4", "v3", "v2"]


def test_an_older_report_does_not_move_a_video_back_in_time() -> None:
    st = user_state.note_activity(None, Activity(ActivityKind.PLAYED, "m1", "d1", 5000), CAT)
    again = user_state.note_activity(st, Activity(ActivityKind.PLAYED, "m1", "d1", 1000), CAT)
    assert again is st


def test_completions_raise_a_devices_series_progress_never_lower_it() -> None:
    st = None
    for video, t in [("got-s1e2", 1), ("got-s1e1", 2)]:
        act = Activity(ActivityKind.COMPLETED, video, "tv", t)
        st = user_state.note_activity(st, act, CAT)
    assert st is not None
    assert st.series["got"] == (SeriesProgress("tv", 1, 2, 2),)


def test_series_progress_is_bounded() -> None:
    rules = Rules(max_series=1)
    st = user_state.note_activity(
        None, Activity(ActivityKind.PLAYED, "got-s1e1", "d", 1), CAT, rules
    )
    st = user_state.note_activity(st, Activity(ActivityKind.PLAYED, "bb-s1e1", "d", 2), CAT, rules)
    assert list(st.series) == ["bb"]


def test_unwatching_a_season_rolls_back_progress_into_it() -> None:
    st = user_state.note_activity(None, Activity(ActivityKind.COMPLETED, "got-s2e2", "tv", 1), CAT)
    st = apply(
        event("mark_unwatched", target={"kind": "season", "series_id": "got", "season": 2}), st=st
    )
    assert st.series["got"][0].highest == (1, 3)


def test_the_number_of_queues_is_bounded() -> None:
    rules = Rules(max_queues=2)
    st = None
    for q in ("a", "b", "c"):
        st = user_state.advance(st, event("queue_add", queue_id=q, video_id="m1"), CAT, rules)
    assert st is not None
    assert sorted(st.queues) == ["a", "b"]
