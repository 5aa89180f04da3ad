"""State bytes: exact round trips (a restored worker behaves identically), and small."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streams.model import codec, watch_state
from streams.model.rules import Rules
from streams.model.video_state import VideoState

from .player import T0, Player, event, run
from .world import World


def scripted() -> list[object]:
    p = Player(duration=600, context={"device_type": "tv", "referrer": "search"})
    p.start().buffer(2).watch(95).set_rate(1.5).watch(40).seek(10).pause().wait(30).play()
    p.watch(300).error().stop()
    q = Player(duration=600, session="s2", device="phone", at=p.t + timedelta(hours=1))
    q.start(at_pos=500).watch(50)
    return [*p.events, event("rate", video_id="v1", rating=5), *q.events]


def test_every_intermediate_video_state_round_trips_exactly() -> None:
    st: VideoState | None = None
    for ev in scripted():
        st, _ = watch_state.advance(st, ev)  # type: ignore[arg-type]
        assert codec.decode_video(codec.encode_video(st)) == st


def test_a_worker_restored_from_bytes_mid_session_ends_in_the_same_state() -> None:
    events = scripted()
    for cut in (5, 20, 37, len(events) - 3):
        half, _ = run(events[:cut])  # type: ignore[arg-type]
        straight, straight_out = run(events[cut:], half)  # type: ignore[arg-type]
        restored = codec.decode_video(codec.encode_video(half))
        resumed, resumed_out = run(events[cut:], restored)  # type: ignore[arg-type]
        assert resumed == straight
        assert [m.model_dump() for m in resumed_out.milestones] == [
            m.model_dump() for m in straight_out.milestones
        ]
        assert [s.model_dump() for s in resumed_out.sessions] == [
            s.model_dump() for s in straight_out.sessions
        ]


def test_a_finished_video_state_is_small() -> None:
    p = (
        Player(duration=1800, session="0f8fad5b-d9cb-469f-a165-70867728950e")
        .start()
        .watch(1800)
        .stop()
    )
    st, _ = run(p.events)
    data = codec.encode_video(st)
    assert len(data) < 200, data


@pytest.mark.parametrize("window", [2, 8])
def test_an_open_session_state_stays_bounded(window: int) -> None:
    p = Player(duration=36_000).start().watch(30_000)
    st, _ = run(p.events, rules=Rules(window=window))
    assert len(codec.encode_video(st)) < 160 + 60 * 2 * window


def test_user_state_round_trips_exactly() -> None:
    w = World()
    for ev in [
        event("set_preferences", preferences={"completion_threshold": 0.85, "tz": "UTC"}),
        event("set_isolation", device_id="kid", mode="silo"),
        event("mark_watched", target={"kind": "season", "series_id": "got", "season": 1}),
        event("mark_watched", target={"kind": "video", "video_id": "m1"}),
        event("queue_add", video_id="m2", priority=7),
        event("queue_add", queue_id="later", video_id="m3"),
    ]:
        w.event(ev)
    w.play(Player(video="got-s2e1", duration=1800, at=T0).start().watch(1800).stop())
    assert codec.decode_user(codec.encode_user(w.user)) == w.user
    assert codec.decode_user(codec.encode_user(codec.decode_user(b"{}"))) == codec.decode_user(
        b"{}"
    )
