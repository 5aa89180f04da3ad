"""Scripted viewers against SPEC §4: what a viewer does, and the figures they should get."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from ingest_api.contract import MilestoneKind
from streams.model import watch_state
from streams.model.rules import Rules, Threshold, ThresholdRule
from streams.model.video_state import WatchStatus, coverage, position_ms, view, watch_ms

from .player import T0, Player, event, milestone_ids, run, swapped


def test_a_viewer_who_watches_to_the_end_completes_once() -> None:
    p = Player(duration=600).start().watch(600).ended().stop()
    st, out = run(p.events)
    v = view(st)
    assert v.status is WatchStatus.COMPLETED
    assert v.coverage == 1.0
    assert v.watch_time_s == pytest.approx(600)
    assert v.completed_count == 1
    assert [m.milestone for m in out.milestones] == [
        MilestoneKind.STARTED,
        MilestoneKind.PROGRESS_10,
        MilestoneKind.PROGRESS_25,
        MilestoneKind.PROGRESS_50,
        MilestoneKind.PROGRESS_75,
        MilestoneKind.PROGRESS_90,
        MilestoneKind.COMPLETED,
    ]
    assert len(out.sessions) == 1
    assert out.sessions[0].end_reason == "stop"


def test_seeking_ahead_adds_no_coverage() -> None:
    p = Player(duration=600).start().watch(60).seek(400).watch(60).stop()
    st, _ = run(p.events)
    assert coverage(st) == pytest.approx(120 / 600)
    assert view(st).played_intervals == ((0.0, 60.0), (400.0, 460.0))
    assert watch_ms(st) == 120_000


def test_a_jump_the_player_did_not_report_as_a_seek_is_not_played() -> None:
    p = Player(duration=600).start().watch(30)
    p.pos = 300.0  # the playhead jumps 270 s in 10 s of wall time
    p.watch(10)
    st, _ = run(p.events)
    # [30, 300) was skipped; the 10 s stretch that ended at 310 is not credited either.
    assert coverage(st) == pytest.approx(30 / 600)


def test_pausing_adds_no_watch_time() -> None:
    p = Player(duration=600).start().watch(60).pause().wait(300).play().watch(60).stop()
    st, _ = run(p.events)
    assert watch_ms(st) == 120_000
    assert coverage(st) == pytest.approx(120 / 600)


def test_buffering_adds_no_watch_time_and_counts_as_rebuffering() -> None:
    p = Player(duration=600).start().watch(60).buffer(7).watch(60).stop()
    st, out = run(p.events)
    assert watch_ms(st) == 120_000
    assert out.sessions[0].rebuffer_time_s == pytest.approx(7)


def test_a_player_killed_without_a_pause_adds_no_watch_time() -> None:
    # The app was killed while playing; the session reports again 20 minutes later (within
    # the idle timeout) from the same position.
    p = Player(duration=600).start().watch(60)
    p.wait(20 * 60).emit("heartbeat")
    st, _ = run(p.events)
    assert watch_ms(st) == 60_000


def test_at_double_speed_watch_time_is_half_the_media_time() -> None:
    p = Player(duration=600).start().set_rate(2.0).watch(100).stop()
    st, _ = run(p.events)
    assert watch_ms(st) == 100_000
    assert coverage(st) == pytest.approx(200 / 600)


def test_status_leaves_unwatched_on_the_first_played_second_not_on_start() -> None:
    p = Player(duration=600).start()
    st, out = run(p.events)
    assert st.status is WatchStatus.UNWATCHED
    assert not out.milestones
    st, out = run(Player(duration=600).start().watch(10).events[1:], st)
    assert st.status is WatchStatus.WATCHING
    assert milestone_ids(out) == ["u1|v1|0|started"]


def test_resume_point_is_the_last_position_of_the_latest_session() -> None:
    first = Player(duration=1200, session="a").start().watch(100).stop()
    second = Player(duration=1200, session="b", at=first.t + timedelta(hours=1))
    second.start(at_pos=500).watch(40).pause()
    st, _ = run(first.events + second.events)
    assert position_ms(st) == 540_000


def test_a_rewatch_opens_a_new_cycle_and_counts_when_it_completes() -> None:
    first = Player(duration=600, session="a").start().watch(600).stop()
    st, _ = run(first.events)
    assert (st.status, st.cycle, st.cc, position_ms(st)) == (WatchStatus.COMPLETED, 0, 1, 0)

    second = Player(duration=600, session="b", at=first.t + timedelta(days=1))
    st, out = run(second.start().watch(120).pause().events, st)
    assert milestone_ids(out) == [
        "u1|v1|1|rewatched",
        "u1|v1|1|started",
        "u1|v1|1|progress_10",
    ]
    assert st.status is WatchStatus.COMPLETED  # stays completed while rewatching
    assert st.cycle == 1
    assert st.cc == 1
    assert coverage(st) == pytest.approx(0.2)  # the new cycle restarted at 0
    assert position_ms(st) == 120_000  # incomplete cycle: resumable again

    st, out = run(second.play().watch(480).stop().events[-50:], st)
    assert st.cc == 2
    assert position_ms(st) == 0  # complete again: resume point cleared
    assert "u1|v1|1|completed" in milestone_ids(out)


def test_a_start_on_an_incomplete_cycle_resumes_it() -> None:
    first = Player(duration=600, session="a").start().watch(200).stop()
    second = Player(duration=600, session="b", at=first.t + timedelta(hours=2))
    st, out = run(first.events + second.start(at_pos=200).watch(100).stop().events)
    assert st.cycle == 0
    assert coverage(st) == pytest.approx(0.5)
    assert "u1|v1|0|rewatched" not in milestone_ids(out)


@pytest.mark.parametrize(
    ("threshold", "watched_s", "completed", "rule"),
    [
        (Threshold(), 510, False, None),  # 85 % < default 90 %
        (Threshold(0.8, ThresholdRule.USER_PREFERENCE), 510, True, "user_preference"),
        (Threshold(0.8, ThresholdRule.USER_PREFERENCE), 470, False, None),
        (Threshold(), 540, True, "default"),
    ],
)
def test_completion_follows_the_users_threshold_and_records_the_rule(
    threshold: Threshold, watched_s: float, completed: bool, rule: str | None
) -> None:
    p = Player(duration=600).start().watch(watched_s).pause()
    st, out = run(p.events, threshold=threshold)
    assert (st.status is WatchStatus.COMPLETED) == completed
    done = [m for m in out.milestones if m.milestone is MilestoneKind.COMPLETED]
    if completed:
        assert done[0].threshold == threshold.value
        assert done[0].rule == rule
        assert view(st).rule == rule
    else:
        assert not done


def test_a_session_closes_after_the_idle_timeout() -> None:
    p = Player(duration=600).start().watch(60).pause()
    st, _ = run(p.events)
    last = p.t
    st, out = watch_state.close_idle(st, last + timedelta(minutes=29), user_id="u1", video_id="v1")
    assert not out.sessions
    assert len(st.open) == 1
    assert watch_state.idle_deadline(st) == last + timedelta(minutes=30)
    st, out = watch_state.close_idle(st, last + timedelta(hours=3), user_id="u1", video_id="v1")
    (rec,) = out.sessions
    assert rec.end_reason == "idle"
    assert rec.ended_at == last  # an idle session ends at its last event, not at `now`
    assert rec.watch_time_s == 60
    assert not st.open


def test_the_idle_timeout_is_a_rule() -> None:
    p = Player(duration=600).start().watch(60).pause()
    rules = Rules(idle_timeout_s=3600)  # Mux's 60 minutes
    st, _ = run(p.events, rules=rules)
    st, out = watch_state.close_idle(
        st, p.t + timedelta(minutes=45), user_id="u1", video_id="v1", rules=rules
    )
    assert not out.sessions


def test_coming_back_to_an_idle_session_starts_a_new_view() -> None:
    p = Player(duration=600).start().watch(60).pause().wait(45 * 60).play().watch(30).stop()
    st, out = run(p.events)
    first, second = out.sessions
    assert (first.end_reason, first.session_key) == ("idle", "u1|s1")
    assert (second.end_reason, second.session_key) == ("stop", "u1|s1|1")
    assert watch_ms(st) == 90_000


def test_redelivered_events_of_an_earlier_segment_are_no_ops() -> None:
    p = Player(duration=600).start().watch(60).pause().wait(45 * 60).play().watch(30)
    st, _ = run(p.events)
    again, out = run(p.events[:8], st)  # the first segment, redelivered
    assert again == st
    assert not out


def test_idle_close_by_timer_or_by_the_next_event_gives_the_same_records() -> None:
    p = Player(duration=600).start().watch(60).pause().wait(45 * 60).play().watch(30).stop()
    lazy_state, lazy = run(p.events)
    st, _ = run(p.events[:8])
    st, by_timer = watch_state.close_idle(
        st, p.events[7].ts + timedelta(minutes=31), user_id="u1", video_id="v1"
    )
    st, rest = run(p.events[8:], st)
    assert [r.model_dump() for r in (by_timer + rest).sessions] == [
        r.model_dump() for r in lazy.sessions
    ]
    assert st == lazy_state


def test_a_new_session_on_the_same_device_replaces_the_open_one() -> None:
    a = Player(duration=600, session="a").start().watch(60)
    b = Player(duration=600, session="b", at=a.t + timedelta(seconds=5)).start().watch(30)
    st, out = run(a.events + b.events)
    (rec,) = out.sessions
    assert (rec.session_id, rec.end_reason) == ("a", "replaced")
    assert [s.sid for s in st.open] == ["b"]


def test_sessions_on_two_devices_stay_open_side_by_side() -> None:
    a = Player(duration=600, session="a", device="tv").start().watch(60)
    b = Player(duration=600, session="b", device="phone").start().watch(60)
    events = [e for pair in zip(a.events, b.events, strict=True) for e in pair]
    st, out = run(events)
    assert not out.sessions
    assert watch_ms(st) == 120_000


def test_every_event_delivered_twice_changes_nothing() -> None:
    p = Player(duration=600).start().watch(300).seek(100).watch(400).pause().play().stop()
    once_state, once = run(p.events)
    twice_state, twice = run(e for ev in p.events for e in (ev, ev))
    assert twice_state == once_state
    assert [m.model_dump() for m in twice.milestones] == [m.model_dump() for m in once.milestones]
    assert [s.model_dump() for s in twice.sessions] == [s.model_dump() for s in once.sessions]


def test_a_duplicate_returns_the_very_same_state_so_the_worker_can_skip_the_write() -> None:
    p = Player(duration=600).start().watch(50)
    st, _ = run(p.events)
    for ev in p.events:
        assert watch_state.advance(st, ev)[0] is st


def test_beyond_the_open_session_limit_the_least_recent_is_replaced() -> None:
    players = [
        Player(duration=600, session=f"s{i}", device=f"d{i}", at=T0 + timedelta(minutes=i))
        .start()
        .watch(10)
        for i in range(4)
    ]
    st, out = run(e for p in players for e in p.events)
    assert [(r.session_id, r.end_reason) for r in out.sessions] == [("s0", "replaced")]
    assert [s.sid for s in st.open] == ["s1", "s2", "s3"]


def test_the_live_view_reports_the_figures_of_spec_section_6() -> None:
    p = Player(duration=600).start().watch(120).pause()
    st, _ = run(p.events)
    v = view(st)
    assert (v.status, v.position_s, v.coverage, v.watch_time_s) == (
        WatchStatus.WATCHING,
        120.0,
        0.2,
        120.0,
    )
    assert (v.completed_count, v.cycle, v.last_watched_at) == (0, 0, p.t)
    assert v.milestones == ("started", "progress_10")


def test_redelivery_of_a_closed_sessions_events_is_a_no_op() -> None:
    p = Player(duration=600).start().watch(200).stop()
    st, _ = run(p.events)
    again, out = run(p.events, st)
    assert again == st
    assert not out


def test_the_same_event_id_is_a_no_op_even_without_its_session() -> None:
    p = Player(duration=600).start().watch(20)
    st, _ = run(p.events)
    assert run([p.events[1]], st)[0] == st


@pytest.mark.parametrize(
    "pairs",
    [
        [4],  # seq 5 before seq 4
        [1, 3, 5, 7],  # every other pair swapped
        [10, 20, 30, 45],  # across window slides
        [59],  # the last heartbeat and the pause
    ],
)
def test_out_of_order_arrival_ends_in_the_same_state_and_milestones(pairs: list[int]) -> None:
    p = Player(duration=600).start().watch(300).seek(50).watch(330).pause()
    in_order, expected = run(p.events)
    late, got = run(swapped(p.events, pairs))
    assert late == in_order
    assert sorted(milestone_ids(got)) == sorted(milestone_ids(expected))


def test_out_of_order_arrival_of_a_seek_recovers_what_was_played_before_it() -> None:
    p = Player(duration=600).start().watch(30).seek(300).watch(20).pause()
    in_order, _ = run(p.events)
    # The seek (seq 4) arrives after the heartbeat that follows it: until then, the stretch
    # from 30 s to 310 s looks like a jump, and [30, 30) is all that is known.
    late, _ = run(swapped(p.events, [4]))
    assert late == in_order
    assert coverage(late) == pytest.approx(50 / 600)


def test_milestones_fire_once_per_cycle_however_often_a_part_is_replayed() -> None:
    p = Player(duration=600).start().watch(200)
    for _ in range(3):
        p.seek(0).watch(200)
    p.watch(400).seek(0).watch(600).stop()
    _, out = run(p.events)
    ids = milestone_ids(out)
    assert len(ids) == len(set(ids)) == 7


def test_skip_marks_a_video_skipped_until_it_is_played() -> None:
    st, _ = watch_state.advance(None, event("skip", video_id="v1"))
    assert st.status is WatchStatus.SKIPPED
    st, _ = run(Player().start().watch(20).events, st)
    assert st.status is WatchStatus.WATCHING


def test_marking_a_video_watched_clears_its_resume_point_and_makes_the_next_start_a_rewatch() -> (
    None
):
    p = Player(duration=600).start().watch(200).pause()
    st, _ = run(p.events)
    st, _ = watch_state.advance(
        st, event("mark_watched", target={"kind": "video", "video_id": "v1"})
    )
    assert (st.status, position_ms(st), st.cc) == (WatchStatus.COMPLETED, 0, 0)
    st, out = run(Player(session="s2", at=p.t + timedelta(hours=1)).start().events, st)
    assert milestone_ids(out) == ["u1|v1|1|rewatched"]


def test_marking_a_video_unwatched_starts_it_over() -> None:
    p = Player(duration=600).start().watch(600).stop()
    st, _ = run(p.events)
    unmark = event("mark_unwatched", target={"kind": "video", "video_id": "v1"})
    st, _ = watch_state.advance(st, unmark)
    assert (st.status, st.cycle, coverage(st), position_ms(st)) == (
        WatchStatus.UNWATCHED,
        1,
        0.0,
        0,
    )
    assert st.cc == 1
    assert watch_ms(st) == 600_000
    again, _ = watch_state.advance(st, unmark)
    assert again == st  # a redelivered unmark opens no further cycle


def test_session_summary_has_startup_time_rebuffering_errors_and_context() -> None:
    p = Player(duration=600, context={"device_type": "tv", "referrer": "search", "tz": "UTC"})
    p.start().wait(1.5).play().watch(60).buffer(4).watch(20).error().stop()
    _, out = run(p.events)
    (rec,) = out.sessions
    assert rec.startup_time_s == pytest.approx(1.5)
    assert rec.rebuffer_time_s == pytest.approx(4)
    assert rec.errors == 1
    assert (rec.device_type, rec.referrer, rec.tz) == ("tv", "search", "UTC")
    assert rec.watch_time_s == pytest.approx(80)
    assert rec.played_intervals == [(0.0, 80.0)]
    assert (rec.position_start_s, rec.position_end_s) == (0.0, 80.0)


def test_buffering_at_startup_or_after_a_seek_is_not_rebuffering() -> None:
    p = Player(duration=600).start()
    p.buffer(3).watch(30).seek(200).buffer(2).watch(30).stop()
    _, out = run(p.events)
    (rec,) = out.sessions
    assert rec.rebuffer_time_s == 0
    assert rec.startup_time_s == pytest.approx(3)


@pytest.mark.parametrize("seed", range(20))
def test_figures_of_a_random_viewer_are_within_one_heartbeat_of_the_truth(seed: int) -> None:
    rng = random.Random(seed)
    p = Player(duration=1800).start()
    for _ in range(rng.randint(5, 20)):
        action = rng.choice(["watch", "watch", "pause", "seek", "rate", "buffer"])
        if action == "watch":
            p.watch(rng.uniform(5, 200), every=rng.uniform(8, 12))
        elif action == "pause":
            p.pause().wait(rng.uniform(1, 600)).play()
        elif action == "seek":
            p.seek(rng.uniform(0, 1700))
        elif action == "rate":
            p.set_rate(rng.choice([0.5, 1.0, 1.25, 1.5, 2.0]))
        else:
            p.buffer(rng.uniform(0.5, 10))
    p.stop()
    st, _ = run(p.events)
    assert watch_ms(st) / 1000 == pytest.approx(p.true_watch_s, abs=10)
    assert coverage(st) == pytest.approx(p.true_coverage, abs=10 / 1800)
    assert position_ms(st) / 1000 == pytest.approx(p.pos, abs=10)


def test_a_session_whose_start_was_lost_still_counts_with_the_catalogs_duration() -> None:
    p = Player(duration=600).start().watch(60)
    st = None
    for ev in p.events[1:]:
        st, _ = watch_state.advance(st, ev, catalog_duration_s=600.0)
    assert st is not None
    assert coverage(st) == pytest.approx(50 / 600)  # the first 10 s precede the first event
    assert st.status is WatchStatus.WATCHING


def test_an_event_far_older_than_the_window_is_dropped() -> None:
    rules = Rules(window=4)
    p = Player(duration=600).start().watch(200)
    events = list(p.events)
    straggler = events.pop(2)
    st, _ = run(events, rules=rules)
    assert run([straggler], st, rules=rules)[0] == st


def test_milestone_records_carry_the_crossing_event() -> None:
    p = Player(duration=600).start().watch(70)
    _, out = run(p.events)
    p10 = next(m for m in out.milestones if m.milestone is MilestoneKind.PROGRESS_10)
    crossing = p.events[6]  # the heartbeat at 60 s
    assert p10.source_event_id == crossing.event_id
    assert p10.ts == crossing.ts
    assert p10.position_s == 60
    assert (p10.session_id, p10.device_id, p10.cycle) == ("s1", "d1", 0)
    assert p10.ts - T0 == timedelta(seconds=60)
