"""Continue watching (SPEC §4.4): what a device offers to resume, latest first.

A video is listed when, as shown on the asking device (``devices.view_on``), its status is
``watching`` and its resume point lies within [5 %, 90 %] of its duration — and never when the
video is shorter than 5 minutes (Jellyfin's MinResumePct, MaxResumePct and
MinResumeDurationSeconds; all three in ``Rules``). Candidates come from the user's bounded
``recent`` index; their states are read through ``states``, so the cost of a request is
bounded by ``rules.recent_videos`` whatever the user's history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from streams.model.catalog import CatalogView
from streams.model.devices import view_on
from streams.model.rules import DEFAULT_RULES, Rules
from streams.model.user_state import UserState
from streams.model.video_state import VideoState, WatchStatus, utc

StateOf = Callable[[str], VideoState | None]


@dataclass(frozen=True, slots=True)
class ResumeItem:
    video_id: str
    position_s: float
    duration_s: float
    progress: float  # position / duration
    last_activity_ms: int
    device_id: str | None  # the device the resume point comes from

    @property
    def last_activity(self) -> datetime | None:
        return utc(self.last_activity_ms)


def duration_ms(st: VideoState, video_id: str, catalog: CatalogView | None) -> int:
    """The state's duration, else the catalog's, else 0 (unknown)."""
    if st.dur > 0 or catalog is None:
        return st.dur
    meta = catalog.video(video_id)
    return 0 if meta is None or meta.duration_s is None else round(meta.duration_s * 1000)


def resumable(pos_ms: int, dur_ms: int, rules: Rules = DEFAULT_RULES) -> bool:
    """Is a resume point at ``pos_ms`` of ``dur_ms`` worth offering?"""
    if dur_ms < rules.resume_min_duration_s * 1000:
        return False
    return rules.resume_min_share * dur_ms <= pos_ms <= rules.resume_max_share * dur_ms


def resume_item(
    video_id: str,
    st: VideoState,
    viewer: str | None,
    user: UserState,
    catalog: CatalogView | None,
    rules: Rules,
) -> ResumeItem | None:
    """The video as a continue-watching entry on ``viewer``, or None if it is not one."""
    v = view_on(st, viewer, user.modes)
    if v.status is not WatchStatus.WATCHING:
        return None
    dur = duration_ms(st, video_id, catalog)
    if not resumable(v.position_ms, dur, rules):
        return None
    return ResumeItem(
        video_id, v.position_ms / 1000, dur / 1000, v.position_ms / dur, v.last_ms, v.device_id
    )


def continue_watching(
    user: UserState,
    viewer: str | None,
    states: StateOf,
    catalog: CatalogView | None = None,
    rules: Rules = DEFAULT_RULES,
    limit: int = 20,
) -> list[ResumeItem]:
    """Continue watching on device ``viewer`` (None: the user across every device)."""
    out: list[ResumeItem] = []
    for video_id, _ in user.recent:
        st = states(video_id)
        if st is None:
            continue
        item = resume_item(video_id, st, viewer, user, catalog, rules)
        if item is not None:
            out.append(item)
    out.sort(key=lambda i: -i.last_activity_ms)
    return out[:limit]
