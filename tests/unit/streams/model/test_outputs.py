"""Records built with ``outputs.construct`` are the instances ``model_construct`` builds."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from ingest_api.contract import MilestoneKind, MilestoneRecord, SessionRecord
from streams.model import milestones, sessions
from streams.model.playback import Point
from streams.model.rules import DEFAULT_RULES, Threshold
from streams.model.sessions import NO_CONTEXT


def _same_instance(a: BaseModel, b: BaseModel) -> None:
    assert type(a) is type(b)
    assert list(a.__dict__.items()) == list(b.__dict__.items())  # values and field order
    assert a.model_fields_set == b.model_fields_set
    assert a.__pydantic_extra__ == b.__pydantic_extra__
    assert a.__pydantic_private__ == b.__pydantic_private__
    assert a.__pydantic_serializer__.to_json(a) == b.__pydantic_serializer__.to_json(b)


def test_milestone_and_session_records_equal_model_construct() -> None:
    for kind, th in ((MilestoneKind.STARTED, None), (MilestoneKind.COMPLETED, Threshold(0.8))):
        rec = milestones.record(
            kind,
            user_id="u1",
            video_id="v1",
            cycle=2,
            t_ms=1_772_323_208_329,
            device_id="d1",
            session_id=None,
            coverage=0.1234567,
            position_ms=61_500,
            watch_ms=60_000,
            threshold=th,
            source_event_id="evt-00000001",
        )
        _same_instance(rec, MilestoneRecord.model_construct(**dict(rec)))
    p = Point(0, 1_772_323_208_329, 0, 0, 1.0, 0)
    s = sessions.open_session("s1", "d1", 1, 0, 0.25, p, NO_CONTEXT, DEFAULT_RULES, 600_000)
    srec = sessions.record(
        s,
        user_id="u1",
        video_id="v1",
        reason="idle",
        ended_ms=1_772_323_209_000,
        coverage_end=0.5,
        dur_ms=600_000,
    )
    _same_instance(srec, SessionRecord.model_construct(**dict(srec)))
    assert srec.started_at == datetime(2026, 3, 1, 0, 0, 8, 329_000, tzinfo=UTC)
