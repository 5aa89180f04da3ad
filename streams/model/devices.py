"""Device isolation (seed 004, SPEC §4.5): whose activity a device is shown.

Each (user, device) has a mode; it answers two questions about that device:

============  ======================  ===========================
mode          shares its activity?    sees other devices' activity?
============  ======================  ===========================
``silo``      no                      no
``quiet``     no                      yes
``loud``      yes (default)           yes
``shout``     yes                     no
============  ======================  ===========================

A device always sees its own activity. Device B's activity is visible on device A iff B
shares and A sees others. Modes are read when the view is built, so changing a mode changes
what is shown from then on, for past activity too.

What isolation filters: the per-device marks of a video state (resume point, last activity,
whether that device saw the video complete), and series progress from playback — hence
continue watching, next up and resume points on a device. What it does not filter: explicit
user actions (marks, skips, queues) and user-level figures (coverage, cycles,
completed_count, watch time), which describe the person, not a screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ingest_api.contract import IsolationMode
from streams.model.video_state import (
    DONE,
    WON,
    VideoState,
    WatchStatus,
    device_marks,
    last_ms,
    position_ms,
)

Modes = Mapping[str, IsolationMode]
DEFAULT_MODE = IsolationMode.LOUD


def shares(mode: IsolationMode) -> bool:
    return mode in (IsolationMode.LOUD, IsolationMode.SHOUT)


def sees_others(mode: IsolationMode) -> bool:
    return mode in (IsolationMode.LOUD, IsolationMode.QUIET)


def visible(writer: str, viewer: str | None, modes: Modes) -> bool:
    """Is activity from device ``writer`` shown on device ``viewer``? (None: the user, all.)"""
    if viewer is None or writer == viewer:
        return True
    return shares(modes.get(writer, DEFAULT_MODE)) and sees_others(modes.get(viewer, DEFAULT_MODE))


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A video's state as shown on one device."""

    status: WatchStatus
    position_ms: int  # resume point
    last_ms: int  # latest visible activity, 0 if none
    device_id: str | None  # the device whose position this is


def view_on(st: VideoState, viewer: str | None, modes: Modes) -> DeviceView:
    """What ``viewer`` is shown of this video (``None``: the user-level view, every device)."""
    if viewer is None:
        ms = device_marks(st)
        return DeviceView(st.status, position_ms(st), last_ms(st), ms[0].dev if ms else None)
    seen = [m for m in device_marks(st) if visible(m.dev, viewer, modes)]
    if not seen:
        status = WatchStatus.SKIPPED if st.status is WatchStatus.SKIPPED else WatchStatus.UNWATCHED
        if st.marked:
            status = WatchStatus.COMPLETED
        return DeviceView(status, 0, 0, None)
    latest = seen[0]
    if st.status in (WatchStatus.UNWATCHED, WatchStatus.SKIPPED):
        status = st.status  # nobody has played it (since it was reset), or the user skipped it
    elif st.marked or any(m.flags & WON for m in seen):
        status = WatchStatus.COMPLETED
    else:
        # Completed elsewhere, out of this device's sight: here it is still being watched.
        status = WatchStatus.WATCHING
    done = latest.flags & DONE or (st.marked and st.done)
    return DeviceView(status, 0 if done else latest.pos, latest.t, latest.dev)
