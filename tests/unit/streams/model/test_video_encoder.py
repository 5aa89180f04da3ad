"""The hot path's encoder writes exactly ``codec.encode_video``'s bytes, whatever it reuses."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest_api.contract import EVENT
from jobs.audience import Audience
from jobs.demo_catalog import build_demo_catalog
from streams import native
from streams.model import codec, watch_state
from streams.model.catalog import Catalog
from streams.model.playback import Point
from streams.model.rules import Rules
from streams.model.sessions import Session
from streams.model.video_encoder import VideoEncoder
from streams.model.video_state import VideoState
from streams.processor import Processor

from .test_codec import scripted


def _audience_states(n: int = 6000, seed: int = 5) -> list[VideoState]:
    """Every (user, video) state the processor writes over coherent viewer timelines, in order:
    windows grow, slide and re-fold, sessions open, close and get replaced."""
    audience = Audience(build_demo_catalog(), size=60, seed=seed, tag="enc")
    begin = datetime(2026, 3, 1, tzinfo=UTC)
    steps = (s for s in audience.live(begin, begin + timedelta(hours=3), 60) if s.event)
    stores: list[dict[bytes, bytes]] = [{}, {}, {}]
    proc = Processor(*stores, Catalog(), Rules(idle_timeout_s=300, window=4), 1)
    out: list[VideoState] = []
    for s in itertools.islice(steps, n):
        step = proc.advance(EVENT.validate_json(orjson.dumps(s.event)), 0)
        proc.apply(step)
        out.extend(step.videos.values())
    return out


def test_same_bytes_as_the_codec_for_every_state_in_order() -> None:
    states = _audience_states()
    assert sum(1 for st in states if st.open and len(st.open[0].win) > 4) > 100
    enc = VideoEncoder()
    for st in states:
        assert enc.encode(st) == codec.encode_video(st)


def test_same_bytes_in_any_order_and_with_a_tiny_memo() -> None:
    """Reuse is decided by identity, so states seen out of order, twice, or after the memo
    started over (or a session id shared by other states) still encode exactly."""
    states = _audience_states(2500, seed=6)
    shuffled = states[:]
    random.Random(1).shuffle(shuffled)
    for enc, seq in ((VideoEncoder(), shuffled), (VideoEncoder(max_sessions=3), states + states)):
        for st in seq:
            assert enc.encode(st) == codec.encode_video(st)


@pytest.mark.skipif(
    native.compiled(), reason="the compiled model rejects an int field holding a float"
)
def test_equal_but_not_identical_parts_are_encoded_again() -> None:
    """``1 == 1.0`` (and ``True == 1``), but they are different JSON: only the very same
    objects are reused. (Such twins break the model's own types, so only pure Python can
    hold them; ``make test`` runs the model's tests that way too.)"""
    st: VideoState | None = None
    for ev in scripted():
        st, _ = watch_state.advance(st, ev)  # type: ignore[arg-type]
    assert st is not None and st.open
    s = st.open[0]
    enc = VideoEncoder()
    assert enc.encode(st) == codec.encode_video(st)
    twin = st._replace(open=(s._replace(pos0=float(s.pos0), won=int(s.won)),))
    assert enc.encode(twin) == codec.encode_video(twin) != codec.encode_video(st)
    p = s.win[-1]
    floaty = Point(p.seq + 1, p.t + 1000, p.pos, p.kind, 1, p.frm)  # rate 1, not 1.0
    grown: Session = s._replace(win=(*s.win, floaty))
    grown_st = st._replace(open=(grown,))
    assert enc.encode(grown_st) == codec.encode_video(grown_st)
    assert codec.decode_video(enc.encode(grown_st)).open[0].win[-1].rate == 1
