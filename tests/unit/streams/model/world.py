"""One user's whole state, wired the way the worker wires the model — a fake worker for tests."""

from __future__ import annotations

from typing import Any

from streams.model import continue_watching, next_up, preferences, user_state, watch_state
from streams.model.catalog import Catalog
from streams.model.rules import DEFAULT_RULES, Rules
from streams.model.user_state import UserState
from streams.model.video_state import VideoState

from .library import library
from .player import Player


class World:
    def __init__(self, catalog: Catalog | None = None, rules: Rules = DEFAULT_RULES) -> None:
        self.catalog = catalog or library()
        self.rules = rules
        self.videos: dict[str, VideoState] = {}
        self.user = user_state.EMPTY

    def play(self, *players: Player) -> World:
        for p in players:
            for ev in p.events:
                self.event(ev)
        return self

    def event(self, ev: Any) -> None:
        """Route one event as the worker does: video state, user state, activity."""
        threshold = preferences.completion_threshold(self.user.prefs)
        video_id = watch_state.video_id_of(ev)
        if video_id is not None:
            meta = self.catalog.video(video_id)
            st, out = watch_state.advance(
                self.videos.get(video_id),
                ev,
                threshold,
                self.rules,
                catalog_duration_s=None if meta is None else meta.duration_s,
            )
            self.videos[video_id] = st
            for act in out.activity:
                self.user = user_state.note_activity(self.user, act, self.catalog, self.rules)
        self.user = user_state.advance(self.user, ev, self.catalog, self.rules)

    def state(self, video_id: str) -> VideoState:
        return self.videos[video_id]

    def with_user(self, user: UserState) -> World:
        self.user = user
        return self

    def cw(self, viewer: str | None) -> list[str]:
        items = continue_watching.continue_watching(
            self.user, viewer, self.videos.get, self.catalog, self.rules
        )
        return [i.video_id for i in items]

    def next_up(self, viewer: str | None) -> list[tuple[str, str]]:
        items = next_up.next_up(self.user, viewer, self.catalog, self.videos.get, self.rules)
        return [(i.video_id, i.reason.value) for i in items]
