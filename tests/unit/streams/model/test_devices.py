"""Device isolation (seed 004): what each of the four modes shows, and shares."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest_api.contract import IsolationMode
from streams.model.devices import view_on, visible
from streams.model.video_state import WatchStatus

from .player import T0, Player, event
from .world import World

SILO, QUIET, LOUD, SHOUT = (
    IsolationMode.SILO,
    IsolationMode.QUIET,
    IsolationMode.LOUD,
    IsolationMode.SHOUT,
)


@pytest.mark.parametrize(
    ("writer_mode", "viewer_mode", "shown"),
    [
        (LOUD, LOUD, True),
        (LOUD, QUIET, True),
        (LOUD, SILO, False),
        (LOUD, SHOUT, False),
        (SHOUT, LOUD, True),
        (SHOUT, QUIET, True),
        (QUIET, LOUD, False),
        (SILO, LOUD, False),
        (SILO, QUIET, False),
        (QUIET, QUIET, False),
    ],
)
def test_activity_is_shown_when_the_writer_shares_and_the_viewer_sees_others(
    writer_mode: IsolationMode, viewer_mode: IsolationMode, shown: bool
) -> None:
    modes = {"w": writer_mode, "v": viewer_mode}
    assert visible("w", "v", modes) is shown


@pytest.mark.parametrize("mode", list(IsolationMode))
def test_a_device_always_sees_its_own_activity(mode: IsolationMode) -> None:
    assert visible("d", "d", {"d": mode})
    assert visible("d", None, {"d": mode})  # and the user sees everything


def two_devices(mode: IsolationMode) -> World:
    """Device A (in ``mode``) watched m1 to 40 %, after loud device B watched m2 to 30 %."""
    w = World()
    w.event(event("set_isolation", device_id="A", mode=mode.value))
    w.play(
        Player(video="m2", device="B", session="b", duration=5400).start().watch(1620).pause(),
        Player(video="m1", device="A", session="a", duration=5400, at=T0 + timedelta(hours=2))
        .start()
        .watch(2160)
        .pause(),
    )
    return w


@pytest.mark.parametrize(
    ("mode", "on_a", "on_b"),
    [
        (SILO, ["m1"], ["m2"]),  # shares nothing, sees nothing
        (QUIET, ["m1", "m2"], ["m2"]),  # does not share, sees others
        (LOUD, ["m1", "m2"], ["m1", "m2"]),  # shares and sees
        (SHOUT, ["m1"], ["m1", "m2"]),  # shares, does not see others
    ],
)
def test_continue_watching_honours_each_isolation_mode(
    mode: IsolationMode, on_a: list[str], on_b: list[str]
) -> None:
    w = two_devices(mode)
    assert w.cw("A") == on_a
    assert w.cw("B") == on_b
    assert w.cw(None) == ["m1", "m2"]  # the user-level view shows everything


@pytest.mark.parametrize(
    ("mode", "resume_on_a", "resume_on_b"),
    [
        (SILO, 600.0, 1800.0),
        (QUIET, 1800.0, 1800.0),  # A sees B's later position; B never sees A's
        (LOUD, 1800.0, 1800.0),
        (SHOUT, 600.0, 1800.0),
    ],
)
def test_resume_points_on_each_device_follow_its_mode(
    mode: IsolationMode, resume_on_a: float, resume_on_b: float
) -> None:
    w = World()
    w.event(event("set_isolation", device_id="A", mode=mode.value))
    w.play(
        Player(video="m1", device="A", session="a", duration=5400).start().watch(600).stop(),
        Player(video="m1", device="B", session="b", duration=5400, at=T0 + timedelta(hours=1))
        .start(at_pos=1700)
        .watch(100)
        .stop(),
    )
    st = w.state("m1")
    assert view_on(st, "A", w.user.modes).position_ms / 1000 == resume_on_a
    assert view_on(st, "B", w.user.modes).position_ms / 1000 == resume_on_b


def test_a_silo_devices_completion_is_invisible_to_other_devices() -> None:
    w = World()
    w.event(event("set_isolation", device_id="kid-tablet", mode="silo"))
    w.play(
        Player(video="m1", device="tv", session="a", duration=5400).start().watch(1200).stop(),
        Player(
            video="m1", device="kid-tablet", session="b", duration=5400, at=T0 + timedelta(hours=3)
        )
        .start()
        .watch(5400)
        .stop(),
    )
    st = w.state("m1")
    assert st.status is WatchStatus.COMPLETED  # the person did watch it all
    tv = view_on(st, "tv", w.user.modes)
    assert (tv.status, tv.position_ms) == (WatchStatus.WATCHING, 1_200_000)
    assert w.cw("tv") == ["m1"]
    assert w.cw("kid-tablet") == []


def test_changing_a_mode_back_to_loud_shares_past_activity() -> None:
    w = two_devices(SILO)
    w.event(event("set_isolation", device_id="A", mode="loud"))
    assert w.cw("B") == ["m1", "m2"]
    assert w.user.modes == {}  # loud is the default and is not stored
