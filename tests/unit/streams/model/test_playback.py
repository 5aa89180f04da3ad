"""What counts as played, watched and rebuffered between two events (SPEC §4.1)."""

from __future__ import annotations

import pytest

from streams.model.playback import START, Cursor, Kind, Mode, Point, fold, step

SLACK = 2000


def pt(
    seq: int, t_s: float, pos_s: float, kind: Kind, rate: float = 1.0, frm: float | None = None
) -> Point:
    pos = round(pos_s * 1000)
    return Point(seq, round(t_s * 1000), pos, kind, rate, pos if frm is None else round(frm * 1000))


def run(*points: Point, dur_ms: int = 600_000) -> Cursor:
    return fold(START, points, SLACK, dur_ms)[-1]


@pytest.mark.parametrize(
    ("kind", "mode"),
    [
        (Kind.START, Mode.PLAYING),
        (Kind.PLAY, Mode.PLAYING),
        (Kind.HEARTBEAT, Mode.PLAYING),
        (Kind.BUFFER_END, Mode.PLAYING),
        (Kind.PAUSE, Mode.PAUSED),
        (Kind.BUFFER_START, Mode.BUFFERING),
        (Kind.ENDED, Mode.STOPPED),
        (Kind.STOP, Mode.STOPPED),
        (Kind.ERROR, Mode.STOPPED),
    ],
)
def test_which_events_leave_the_player_playing(kind: Kind, mode: Mode) -> None:
    assert run(pt(0, 0, 0, Kind.PLAY), pt(1, 1, 1, kind)).mode == mode


@pytest.mark.parametrize("kind", [Kind.SEEK, Kind.RATE_CHANGE])
@pytest.mark.parametrize("before", [Kind.PLAY, Kind.PAUSE])
def test_seek_and_rate_change_keep_the_mode_they_found(kind: Kind, before: Kind) -> None:
    c = run(pt(0, 0, 0, Kind.PLAY), pt(1, 1, 1, before), pt(2, 2, 50, kind, frm=1))
    assert c.mode == run(pt(0, 0, 0, Kind.PLAY), pt(1, 1, 1, before)).mode


def test_playing_between_two_events_is_played_and_watched() -> None:
    c, a, b = step(run(pt(0, 0, 0, Kind.PLAY)), pt(1, 10, 10, Kind.HEARTBEAT), SLACK, 600_000)
    assert (a, b) == (0, 10_000)
    assert c.wt == 10_000
    assert c.iv == ((0, 10_000),)


def test_a_seek_ends_the_played_stretch_at_its_origin() -> None:
    c = run(
        pt(0, 0, 0, Kind.PLAY), pt(1, 10, 300, Kind.SEEK, frm=10), pt(2, 20, 310, Kind.HEARTBEAT)
    )
    assert c.iv == ((0, 10_000), (300_000, 310_000))
    assert c.wt == 20_000


@pytest.mark.parametrize(
    ("dp", "played"),
    [(10, True), (12, True), (12.5, False), (100, False), (-5, False)],
)
def test_a_jump_beyond_wall_time_times_rate_plus_slack_is_not_played(
    dp: float, played: bool
) -> None:
    c = run(pt(0, 0, 50, Kind.PLAY), pt(1, 10, 50 + dp, Kind.HEARTBEAT))
    assert bool(c.iv) == played


def test_watch_time_never_exceeds_the_media_played_divided_by_the_rate() -> None:
    # Playing for 60 s of wall time but the playhead only moved 5 s: a stalled player.
    c = run(pt(0, 0, 0, Kind.PLAY), pt(1, 60, 5, Kind.HEARTBEAT))
    assert c.wt == 5_000


def test_rate_scales_watch_time() -> None:
    c = run(pt(0, 0, 0, Kind.PLAY, rate=2.0), pt(1, 10, 20, Kind.HEARTBEAT, rate=2.0))
    assert (c.wt, c.iv) == (10_000, ((0, 20_000),))


def test_paused_time_is_neither_played_nor_watched() -> None:
    c = run(pt(0, 0, 0, Kind.PLAY), pt(1, 10, 10, Kind.PAUSE), pt(2, 500, 10, Kind.PLAY))
    assert c.wt == 10_000


def test_played_media_is_clipped_to_the_duration() -> None:
    c = run(pt(0, 0, 595, Kind.PLAY), pt(1, 10, 605, Kind.HEARTBEAT))
    assert c.iv == ((595_000, 600_000),)


def test_startup_time_runs_from_start_to_the_first_played_second() -> None:
    c = run(
        pt(0, 0, 0, Kind.START),
        pt(1, 0.5, 0, Kind.BUFFER_START),
        pt(2, 2.5, 0, Kind.BUFFER_END),
        pt(3, 12.5, 10, Kind.HEARTBEAT),
    )
    assert c.startup_ms == 2_500
    assert c.rebuf == 0  # buffering before playback starts is startup, not rebuffering


def test_without_a_start_there_is_no_startup_time() -> None:
    assert run(pt(0, 0, 0, Kind.PLAY), pt(1, 10, 10, Kind.HEARTBEAT)).startup_ms is None


def test_rebuffering_counts_buffering_after_playback_started() -> None:
    c = run(
        pt(0, 0, 0, Kind.PLAY),
        pt(1, 10, 10, Kind.BUFFER_START),
        pt(2, 13, 10, Kind.BUFFER_END),
        pt(3, 23, 20, Kind.HEARTBEAT),
    )
    assert c.rebuf == 3_000
    assert c.wt == 20_000


def test_errors_are_counted() -> None:
    assert run(pt(0, 0, 0, Kind.PLAY), pt(1, 1, 1, Kind.ERROR), pt(2, 2, 1, Kind.ERROR)).errors == 2


def test_a_clock_stepping_back_is_not_negative_time() -> None:
    c = run(pt(0, 100, 0, Kind.PLAY), pt(1, 90, 1, Kind.HEARTBEAT))
    assert c.wt == 0
    assert c.iv == ((0, 1_000),)
