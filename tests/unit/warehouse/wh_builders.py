"""Terse builders of wire-contract records for warehouse tests (real models, no mocks)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest_api.contract import (
    EVENT,
    AnyAction,
    AnyPlayback,
    CatalogVideo,
    MilestoneRecord,
    SessionRecord,
)
from warehouse import views
from warehouse.store import Store
from warehouse.tier1 import WriteResult, write_batch

_ids = itertools.count()


def at(text: str) -> datetime:
    """``at("2024-03-01 15:30")`` -> that instant in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def event(
    type_: str,
    user: str,
    ts: datetime,
    *,
    session: str | None = None,
    vid: str = "v1",
    seq: int = 0,
    **fields: Any,
) -> AnyPlayback | AnyAction:
    body: dict[str, Any] = {
        "event_id": f"evt-{next(_ids):08d}",
        "type": type_,
        "ts": ts.isoformat(),
        "user_id": user,
        "device_id": "dev-1",
    }
    if session is not None:
        body |= {"session_id": session, "seq": seq, "video_id": vid, "position_s": 0.0}
        if type_ == "start":
            body.setdefault("duration_s", 600.0)
    body |= fields
    return EVENT.validate_python(body)


def prefs(user: str, ts: datetime, **preferences: Any) -> AnyPlayback | AnyAction:
    return event("set_preferences", user, ts, preferences=preferences)


def session(
    user: str,
    sid: str,
    started: datetime,
    *,
    video: str = "v1",
    watch: float = 0.0,
    played: float | None = None,
    startup: float | None = None,
    rebuffer: float = 0.0,
    errors: int = 0,
    intervals: Sequence[tuple[float, float]] = (),
    completed: bool = False,
    duration: float | None = 600.0,
    tz: str | None = None,
    minutes: float = 30.0,
) -> SessionRecord:
    return SessionRecord(
        session_key=f"{user}|{sid}",
        user_id=user,
        session_id=sid,
        video_id=video,
        device_id="dev-1",
        started_at=started,
        ended_at=started + timedelta(minutes=minutes),
        end_reason="stop",
        watch_time_s=watch,
        played_s=watch if played is None else played,
        position_start_s=0.0,
        position_end_s=0.0,
        coverage_start=0.0,
        coverage_end=0.0,
        duration_s=duration,
        tz=tz,
        startup_time_s=startup,
        rebuffer_time_s=rebuffer,
        errors=errors,
        played_intervals=list(intervals),
        completed=completed,
    )


def milestone(user: str, video: str, kind: str, ts: datetime, *, cycle: int = 0) -> MilestoneRecord:
    return MilestoneRecord(
        milestone_id=f"{user}|{video}|{cycle}|{kind}",
        milestone=kind,  # type: ignore[arg-type]
        user_id=user,
        video_id=video,
        cycle=cycle,
        ts=ts,
        device_id="dev-1",
        session_id=None,
        coverage=0.0,
        position_s=0.0,
        watch_time_s=0.0,
        source_event_id="src-00000000",
    )


def video(video_id: str, duration: float = 600.0, **fields: Any) -> CatalogVideo:
    return CatalogVideo.model_validate({"video_id": video_id, "duration_s": duration, **fields})


@dataclass
class Batch:
    """Records to write in one ``write_batch`` call."""

    events: list[AnyPlayback | AnyAction] = field(default_factory=list)
    sessions: list[SessionRecord] = field(default_factory=list)
    milestones: list[MilestoneRecord] = field(default_factory=list)
    catalog: list[CatalogVideo] = field(default_factory=list)

    def view(
        self,
        user: str,
        sid: str,
        started: datetime,
        *,
        how: str = "start",
        event_at: datetime | None = None,
        **kw: Any,
    ) -> Batch:
        """A session that counts as a view: its SessionRecord plus a start (or play) event."""
        video_id = kw.get("video", "v1")
        self.events.append(event(how, user, event_at or started, session=sid, vid=video_id))
        self.sessions.append(session(user, sid, started, **kw))
        return self

    def write(self, store: Store) -> WriteResult:
        return write_batch(
            store,
            events=self.events,
            sessions=self.sessions,
            milestones=self.milestones,
            catalog=self.catalog,
        )


def analyst(store: Store, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Run ``sql`` the way an analyst does: read-only on analytics.duckdb."""
    con = views.connect(store.root.parent)
    try:
        res = con.execute(sql, params or [])
        cols = [d[0] for d in res.description or []]
        return [dict(zip(cols, row, strict=True)) for row in res.fetchall()]
    finally:
        con.close()
