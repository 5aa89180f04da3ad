"""Per-user state: settings, device modes, watched marks, queues, and two bounded indexes.

``advance(state, action)`` applies a user action (set_preferences, set_isolation, marks,
queues); ``note_activity(state, activity)`` applies what playback reported (``Outputs.activity``:
a session opened or closed, a cycle completed). The two indexes are what continue watching
and next up start from, bounded so a user's 10,000th video costs what the first did:

- ``recent``: the ``rules.recent_videos`` most recently active videos, newest first;
- ``series``: per series (``rules.max_series`` most recent), per device, the highest episode
  completed by playback there and the last activity — isolation filters it per device.

Playback events never touch this state, except through those few activity reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from ingest_api.contract import (
    EventType,
    IsolationEvent,
    IsolationMode,
    MarkEvent,
    PreferencesEvent,
    QueueEvent,
)
from streams.model import hierarchy, preferences, queues
from streams.model.catalog import CatalogView
from streams.model.hierarchy import NO_MARKS, Level, Marks, Node
from streams.model.outputs import Activity, ActivityKind
from streams.model.preferences import NO_PREFS, Prefs
from streams.model.queues import Queue
from streams.model.rules import DEFAULT_RULES, Rules
from streams.model.video_actions import VideoAction
from streams.model.watch_state import VideoEvent


class SeriesProgress(NamedTuple):
    """One device's progress through a series: highest episode completed there, last activity."""

    dev: str
    season: int  # -1: none completed yet
    episode: int
    t: int

    @property
    def highest(self) -> tuple[int, int] | None:
        return None if self.season < 0 else (self.season, self.episode)


@dataclass(frozen=True, slots=True)
class UserState:
    prefs: Prefs = NO_PREFS
    modes: Mapping[str, IsolationMode] = field(default_factory=dict)  # only non-loud devices
    marks: Marks = NO_MARKS
    queues: Mapping[str, Queue] = field(default_factory=dict)
    recent: tuple[tuple[str, int], ...] = ()  # (video_id, last activity ms), newest first
    series: Mapping[str, tuple[SeriesProgress, ...]] = field(default_factory=dict)
    seen: tuple[str, ...] = ()  # recent action event ids, for exact-once actions


EMPTY = UserState()
UserAction = (
    VideoAction | PreferencesEvent | IsolationEvent | QueueEvent | MarkEvent
)  # what the user state reacts to


def advance(
    state: UserState | None,
    ev: VideoEvent | UserAction,
    catalog: CatalogView,
    rules: Rules = DEFAULT_RULES,
) -> UserState:
    """Apply a user action; playback and repeated event_ids leave the state as it was."""
    st = EMPTY if state is None else state
    if ev.event_id in st.seen:
        return st
    new = _apply(st, ev, catalog, rules)
    if new is st:
        return st
    return replace(new, seen=(*new.seen, ev.event_id)[-rules.seen_actions :])


def _apply(st: UserState, ev: object, catalog: CatalogView, rules: Rules) -> UserState:
    if isinstance(ev, PreferencesEvent):
        prefs = preferences.apply(st.prefs, ev.preferences)
        return st if prefs is st.prefs else replace(st, prefs=prefs)
    if isinstance(ev, IsolationEvent):
        modes = {k: v for k, v in st.modes.items() if k != ev.device_id}
        if ev.mode is not IsolationMode.LOUD:
            modes[ev.device_id] = ev.mode
        return st if modes == st.modes else replace(st, modes=modes)
    if isinstance(ev, MarkEvent):
        node = hierarchy.node_of(ev.target)
        if ev.type is EventType.MARK_WATCHED:
            return replace(st, marks=hierarchy.mark_watched(st.marks, node, catalog))
        marks = hierarchy.mark_unwatched(st.marks, node, catalog)
        return replace(st, marks=marks, series=_forget_progress(st.series, node, catalog))
    if isinstance(ev, QueueEvent):
        return _queue(st, ev, rules)
    return st


def _queue(st: UserState, ev: QueueEvent, rules: Rules) -> UserState:
    if ev.queue_id not in st.queues and len(st.queues) >= rules.max_queues:
        return st  # bounded: a user with this many queues gets no new one
    q = st.queues.get(ev.queue_id, ())
    if ev.type is EventType.QUEUE_ADD:
        t = round(ev.ts.timestamp() * 1000)
        new = queues.add(
            q,
            ev.video_id,
            position=ev.position,
            priority=ev.priority,
            t_ms=t,
            limit=rules.max_queue_items,
        )
    elif ev.type is EventType.QUEUE_REMOVE:
        new = queues.remove(q, ev.video_id)
    else:
        new = queues.move(q, ev.video_id, position=ev.position, priority=ev.priority)
    if new == q:
        return st
    qs = {k: v for k, v in st.queues.items() if k != ev.queue_id}
    if new:
        qs[ev.queue_id] = new
    return replace(st, queues=qs)


def _forget_progress(
    series: Mapping[str, tuple[SeriesProgress, ...]], node: Node, catalog: CatalogView
) -> Mapping[str, tuple[SeriesProgress, ...]]:
    """After an unwatch, no device's playback progress may claim the unwatched episodes: the
    highest completed episode falls back to the one just before the unwatched part."""
    affected: dict[str, tuple[int, int]] = {}  # series -> first unwatched (season, episode)
    if node.level is Level.VIDEO:
        v = catalog.video(node.id)
        if v is not None and v.series_id is not None:
            affected[v.series_id] = (v.season, v.episode)
    elif node.level is Level.SEASON:
        affected[node.id] = (node.season, -1)
    elif node.level is Level.SERIES:
        affected[node.id] = (-1, -1)
    else:
        for sid in catalog.shelf(node.id).series:
            affected[sid] = (-1, -1)
    out = dict(series)
    for sid, first in affected.items():
        if sid not in out:
            continue
        before = [e for e in catalog.episodes(sid) if (e.season, e.episode) < first]
        floor = (before[-1].season, before[-1].episode) if before else (-1, 0)
        out[sid] = tuple(
            p._replace(season=floor[0], episode=floor[1])
            if p.highest is not None and p.highest >= first
            else p
            for p in out[sid]
        )
    return out


def note_activity(
    state: UserState | None, act: Activity, catalog: CatalogView, rules: Rules = DEFAULT_RULES
) -> UserState:
    """Record what playback reported: recency of the video, series progress of the device."""
    st = EMPTY if state is None else state
    recent = _touch(st.recent, act.video_id, act.t_ms, rules.recent_videos)
    meta = catalog.video(act.video_id)
    series = st.series
    if meta is not None and meta.series_id is not None:
        series = _progress(st.series, meta.series_id, act, meta.season, meta.episode, rules)
    if recent == st.recent and series == st.series:
        return st
    return replace(st, recent=recent, series=series)


def _touch(
    recent: tuple[tuple[str, int], ...], video_id: str, t: int, limit: int
) -> tuple[tuple[str, int], ...]:
    old = next((x for x in recent if x[0] == video_id), None)
    if old is not None and old[1] >= t:
        return recent
    rest = [x for x in recent if x[0] != video_id]
    rest.append((video_id, t))
    rest.sort(key=lambda x: -x[1])
    return tuple(rest[:limit])


def _progress(
    series: Mapping[str, tuple[SeriesProgress, ...]],
    sid: str,
    act: Activity,
    season: int,
    episode: int,
    rules: Rules,
) -> Mapping[str, tuple[SeriesProgress, ...]]:
    devs = {p.dev: p for p in series.get(sid, ())}
    p = devs.get(act.device_id, SeriesProgress(act.device_id, -1, 0, 0))
    if act.kind is ActivityKind.COMPLETED and (p.highest is None or p.highest < (season, episode)):
        p = p._replace(season=season, episode=episode)
    p = p._replace(t=max(p.t, act.t_ms))
    devs[act.device_id] = p
    mine = tuple(sorted(devs.values(), key=lambda x: -x.t)[: rules.max_devices])
    if mine == series.get(sid):
        return series
    out = dict(series)
    out[sid] = mine
    if len(out) > rules.max_series:
        # Forget the series touched least recently: next up looks back only so far (Jellyfin's
        # cutoff is 365 days; here it is a count).
        stalest = min(out, key=lambda k: max(x.t for x in out[k]))
        del out[stalest]
    return out
