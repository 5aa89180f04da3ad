"""The simulated video player of one session: the playhead, the clock, and the events it sends.

Pure: the player keeps time in integer milliseconds it is told (``wait``, ``advance_to``), never
the wall clock, and appends each ``Step`` it makes to a list it is given. How a viewer drives it
is ``jobs.watch_session``; scripted tests drive it directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobs.demo_catalog import CatalogEntry
from jobs.profiles import Device
from jobs.timeline import HEARTBEAT_MS, SessionInfo, Step

if TYPE_CHECKING:
    from jobs.viewers import Viewer


class Player:
    """The player of one session: the playhead, the clock, and the events it sends.

    The playhead moves only while playing, at the playback rate; every event records what was
    played since the previous one, which is what the truth adds up. Scripted tests drive it
    directly.
    """

    def __init__(
        self,
        viewer: Viewer,
        entry: CatalogEntry,
        device: Device,
        at: int,
        position: int,
        referrer: str,
        out: list[Step],
    ) -> None:
        self.viewer = viewer
        self.device = device
        self.out = out
        self.t = self.last_t = at
        self.pos = self.last_pos = position
        self.duration = int(entry.duration_s * 1000)
        self.rate_pm = viewer.profile.rate_pm
        self.playing = False
        self._playing_before_buffer = False
        self.seq = 0
        self.info = SessionInfo(
            viewer.new_session_id(), entry.video_id, device.device_id, self.duration, referrer
        )
        self.context = {
            "device_type": device.device_type,
            "referrer": referrer,
            "app_version": device.app_version,
            "tz": viewer.profile.tz,
        }

    def wait(self, ms: int) -> None:
        self.advance_to(self.t + ms)

    def time_to(self, position: int) -> int:
        """When the playhead reaches ``position`` if nothing interrupts it."""
        if position <= self.pos:
            return self.t
        return self.t + -(-(position - self.pos) * 1000 // self.rate_pm)

    def advance_to(self, t: int) -> None:
        if self.playing:
            self.pos = min(self.duration, self.pos + (t - self.t) * self.rate_pm // 1000)
        self.t = t

    def _played(self) -> tuple[int, int, int] | None:
        if not self.playing:
            return None
        return (self.t - self.last_t, self.last_pos, self.pos)

    def emit(self, type_: str, **fields: Any) -> None:
        doc = self.viewer.event_doc(type_, self.t, self.device, self.context)
        doc.update(
            video_id=self.info.video_id,
            session_id=self.info.session_id,
            seq=self.seq,
            position_s=self.pos / 1000,
            duration_s=self.duration / 1000,
            playback_rate=self.rate_pm / 1000,
        )
        doc.update(fields)
        self.out.append(
            Step(self.t, doc["user_id"], type_, doc, self.info, self.pos, self._played())
        )
        self.seq += 1
        self.last_t, self.last_pos = self.t, self.pos
        if type_ == "play":
            self.playing = True
        elif type_ == "buffer_start":
            self._playing_before_buffer, self.playing = self.playing, False
        elif type_ == "buffer_end":
            self.playing = self._playing_before_buffer
        elif type_ in ("pause", "ended", "error", "stop"):
            self.playing = False

    def play_for(self, ms: int) -> None:
        """Play on for ``ms`` of wall time, with a heartbeat 10 s after the latest event."""
        end = self.t + ms
        while self.last_t + HEARTBEAT_MS <= end:
            self.advance_to(self.last_t + HEARTBEAT_MS)
            self.emit("heartbeat")
        self.advance_to(end)

    def buffer(self, ms: int) -> None:
        """Stall for ``ms``: the playhead stands still and no wall time counts as watching."""
        self.emit("buffer_start")
        self.wait(ms)
        self.emit("buffer_end")

    def change_rate(self, rate_pm: int) -> None:
        """Switch to ``rate_pm`` per mille; what was played before counts at the old rate."""
        self.rate_pm = rate_pm
        self.emit("rate_change")

    def seek(self, to: int) -> None:
        """A seek while playing: what was played up to here counts, the jump does not."""
        doc = self.viewer.event_doc("seek", self.t, self.device, self.context)
        doc.update(
            video_id=self.info.video_id,
            session_id=self.info.session_id,
            seq=self.seq,
            position_s=to / 1000,
            from_position_s=self.pos / 1000,
            duration_s=self.duration / 1000,
            playback_rate=self.rate_pm / 1000,
        )
        self.out.append(Step(self.t, doc["user_id"], "seek", doc, self.info, to, self._played()))
        self.seq += 1
        self.pos = to
        self.last_t, self.last_pos = self.t, self.pos

    def silent(self) -> None:
        """The viewer leaves without the player saying so (tab closed, battery died)."""
        user_id = self.viewer.profile.user_id
        self.out.append(Step(self.t, user_id, "idle", None, self.info, self.pos, self._played()))
        self.playing = False
        self.last_t, self.last_pos = self.t, self.pos
