"""Open sessions, per partition: the decoded-state cache and the idle sweep's index.

A (user, video) state with an open session is kept decoded here, with the time its first
session goes idle (``deadline``). The sweep asks ``due(partition)``: nothing happens until the
partition's event-time watermark passes the earliest deadline noted, and then only the open
sessions of that partition are looked at — never the table. Deadlines only move later as
events arrive, so the noted earliest one may be stale-early: the sweep then finds nothing,
and notes the true earliest.
"""

from __future__ import annotations

from streams.model.video_state import VideoState

_NEVER = 1 << 62


class OpenSessions:
    def __init__(self, idle_ms: int) -> None:
        self.idle_ms = idle_ms
        self._states: dict[int, dict[bytes, VideoState]] = {}
        self._next: dict[int, int] = {}  # partition -> earliest deadline noted (may be early)
        self._wm: dict[int, int] = {}  # partition -> event-time watermark, epoch ms

    def get(self, partition: int, key: bytes) -> VideoState | None:
        """The cached state of ``key`` if it has an open session."""
        states = self._states.get(partition)
        return None if states is None else states.get(key)

    def put(self, partition: int, key: bytes, st: VideoState) -> None:
        """Record ``key``'s latest state: cached while it has an open session, else dropped."""
        states = self._states.get(partition)
        if states is None:
            states = self._states[partition] = {}
        opened = st.open
        if not opened:
            states.pop(key, None)
            return
        states[key] = st
        if len(opened) == 1:
            deadline = opened[0].cur.t + self.idle_ms
        else:
            deadline = min(s.cur.t for s in opened) + self.idle_ms
        if deadline < self._next.get(partition, _NEVER):
            self._next[partition] = deadline

    def saw(self, partition: int, t_ms: int) -> None:
        """Advance the partition's watermark to an event time it has seen."""
        if t_ms > self._wm.get(partition, 0):
            self._wm[partition] = t_ms

    def watermark(self, partition: int) -> int:
        return self._wm.get(partition, 0)

    def partitions(self) -> list[int]:
        return list(self._states)

    def due(self, partition: int) -> list[tuple[bytes, VideoState]]:
        """States of ``partition`` with a session idle at the watermark (possibly none)."""
        wm = self._wm.get(partition, 0)
        if wm < self._next.get(partition, _NEVER):
            return []
        out: list[tuple[bytes, VideoState]] = []
        earliest = _NEVER
        for key, st in self._states.get(partition, {}).items():
            deadline = min(s.cur.t for s in st.open) + self.idle_ms
            if deadline <= wm:
                out.append((key, st))
            elif deadline < earliest:
                earliest = deadline
        # Whatever is closed now gets re-noted by put(); until then nothing is due before this.
        self._next[partition] = earliest
        return out

    def keys(self, partition: int) -> list[bytes]:
        return list(self._states.get(partition, ()))

    def forget(self, partition: int, key: bytes) -> None:
        """Drop ``key``'s cached state (its user was erased)."""
        states = self._states.get(partition)
        if states is not None:
            states.pop(key, None)

    def drop(self, partition: int) -> None:
        self._states.pop(partition, None)
        self._next.pop(partition, None)
        self._wm.pop(partition, None)

    def __len__(self) -> int:
        return sum(len(s) for s in self._states.values())
