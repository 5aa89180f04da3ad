"""One worker's share of watch state: decoded event in, writes and outputs out.

``Processor`` drives the pure model (``streams.model``) over three key-value stores (the
Faust tables in production, dicts in tests) and keeps what makes the hot path cheap:

- the decoded states of keys with an open session, per partition (``OpenSessions``), which
  is also the index the idle sweep scans — never the whole table;
- each user's completion threshold, so a heartbeat never decodes the user state;
- per partition, the event-time watermark (the highest ``ts`` seen) the sweep closes by.

A transition is two calls: ``advance``/``sweep`` compute a ``Step`` (new values, records to
emit) without changing anything; ``apply`` writes it and updates the caches. In the worker
the stores are write-back caches (``streams.batch``): the state that remembers "milestone
sent" reaches RocksDB and the changelog only after Kafka has acknowledged the milestone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, cast

import orjson

from ingest_api.contract import (
    EraseRequest,
    ErrorEvent,
    MilestoneRecord,
    PlaybackEvent,
    SeekEvent,
    SessionRecord,
    StartEvent,
)
from streams import tables
from streams.idle import OpenSessions
from streams.model import codec, preferences, user_state, watch_state
from streams.model.catalog import Catalog, meta_from_start
from streams.model.outputs import NOTHING, Outputs
from streams.model.rules import Rules, Threshold
from streams.model.user_state import UserState
from streams.model.video_encoder import VideoEncoder
from streams.model.video_state import VideoState
from streams.records import Event
from streams.writeback import DELETED, keys_with_prefix

_PLAYBACK_TYPES = frozenset((StartEvent, SeekEvent, ErrorEvent, PlaybackEvent))
_MAX_THRESHOLDS = 200_000  # cached thresholds before the cache starts over
_MAX_KEYS = 200_000  # likewise for the (user, video) keys


class Store(Protocol):
    """The two operations the processor needs of a table (Faust tables and dicts have them)."""

    def get(self, key: bytes) -> bytes | None: ...

    def __setitem__(self, key: bytes, value: bytes) -> None: ...


@dataclass(slots=True)
class Step:
    """What one event (or one idle close) changes: values to write and records to emit."""

    partition: int
    videos: dict[bytes, VideoState] = field(default_factory=dict)
    users: dict[bytes, UserState] = field(default_factory=dict)
    history: dict[bytes, bytes] = field(default_factory=dict)
    milestones: list[MilestoneRecord] = field(default_factory=list)
    sessions: list[SessionRecord] = field(default_factory=list)
    watermark_ms: int = 0
    erased: bytes | None = None  # a user whose every key goes (``Processor.erase``)
    erased_videos: tuple[bytes, ...] = ()

    @property
    def emits(self) -> bool:
        return bool(self.milestones or self.sessions)

    @property
    def writes(self) -> bool:
        return bool(self.videos or self.users or self.history or self.erased is not None)


class Processor:
    def __init__(
        self,
        videos: Store,
        users: Store,
        history: Store,
        catalog: Catalog,
        rules: Rules,
        partitions: int,
        history_size: int = 100,
    ) -> None:
        self.videos, self.users, self.history = videos, users, history
        self.catalog = catalog
        self.rules = rules
        self.partitions = partitions
        self.history_size = history_size
        self.open = OpenSessions(rules.idle_ms)
        self._thresholds: dict[bytes, Threshold] = {}
        self._keys: dict[tuple[str, str], bytes] = {}  # tables.video_key, remembered
        self._encoder = VideoEncoder()

    # -- reads -------------------------------------------------------------------------

    def video(self, key: bytes, partition: int | None = None) -> VideoState | None:
        """The (user, video) state under ``key``, from the open-session cache or the table."""
        if partition is None:
            partition = tables.partition_of(tables.user_of(key), self.partitions)
        st = self.open.get(partition, key)
        if st is not None:
            return st
        raw = self.videos.get(key)
        return codec.decode_video(raw) if raw else None  # DELETED in a plain dict: none

    def user(self, user: bytes) -> UserState | None:
        raw = self.users.get(user)
        return codec.decode_user(raw) if raw else None

    def sessions_of(self, user: bytes) -> list[dict[str, object]]:
        """The user's latest closed sessions, newest first (SessionRecord JSON objects)."""
        raw = self.history.get(user)
        return list(orjson.loads(raw)) if raw else []

    def threshold(self, user: bytes) -> Threshold:
        th = self._thresholds.get(user)
        if th is None:
            st = self.user(user)
            th = preferences.completion_threshold(st.prefs if st else user_state.EMPTY.prefs)
            if len(self._thresholds) >= _MAX_THRESHOLDS:
                self._thresholds.clear()
            self._thresholds[user] = th
        return th

    # -- transitions ---------------------------------------------------------------------

    def advance(self, ev: Event, partition: int, *, rewrite: bool = False) -> Step:
        """Fold one event into the state of its user (and video). Changes nothing yet.

        A duplicate (or otherwise no-op) event yields a step with no writes — unless
        ``rewrite``: then the current values of the keys it touches are written again (used
        while re-reading offsets a crashed run may have processed; see docs/stream-worker.md).
        """
        t_ms = round(ev.ts.timestamp() * 1000)
        step = Step(partition, {}, {}, {}, [], [], t_ms)
        user_id = ev.user_id
        uid = user_id.encode()
        user: UserState | None = None
        catalog = self.catalog
        # Exact classes, not isinstance: pydantic's metaclass makes that ~0.2 µs a check.
        cls = type(ev)
        if cls in _PLAYBACK_TYPES:
            video_id: str = ev.video_id  # type: ignore[union-attr]  # a playback event
            meta = catalog.video(video_id)
            if meta is None and cls is StartEvent:
                catalog.upsert(meta_from_start(cast(StartEvent, ev)))
                meta = catalog.video(video_id)
        else:
            old = self.user(uid)
            user = user_state.advance(old, ev, catalog, self.rules)
            if user is not old or (rewrite and old is not None):
                step.users[uid] = user
            named = watch_state.video_id_of(ev)
            if named is None:
                return step
            video_id = named
            meta = catalog.video(video_id)
        key = self._keys.get((user_id, video_id))
        if key is None:
            if len(self._keys) >= _MAX_KEYS:
                self._keys.clear()
            key = self._keys[user_id, video_id] = tables.video_key(user_id, video_id)
        old_v = self.video(key, partition)
        new_v, out = watch_state.advance(
            old_v,
            ev,  # type: ignore[arg-type]  # it names a video: playback or a video action
            self.threshold(uid),
            self.rules,
            None if meta is None else meta.duration_s,
            t_ms,
        )
        if new_v is not old_v or (rewrite and old_v is not None):
            step.videos[key] = new_v
        if rewrite and user is None and (old_u := self.user(uid)) is not None:
            step.users[uid] = old_u
        if out is not NOTHING:
            self._outputs(step, uid, user, out, rewrite)
        if rewrite and uid not in step.history and (raw := self.history.get(uid)):
            # A replayed step may be a no-op here because RocksDB already holds its effect
            # while the changelog never got it: rewrite the history too, not just the states.
            step.history[uid] = raw
        return step

    def step(self, rec: Event | EraseRequest, partition: int, *, rewrite: bool = False) -> Step:
        """The step of a decoded ``player-events`` record (``records.decode_event``): an
        erasure (``erase``) or an event (``advance``). Changes nothing yet."""
        if type(rec) is EraseRequest:
            return self.erase(rec.user_id, partition)
        return self.advance(cast(Event, rec), partition, rewrite=rewrite)

    def erase(self, user_id: str, partition: int) -> Step:
        """Forget the user (SPEC §7, GDPR): every ``videos`` key of theirs, their ``users``
        and ``history`` values; ``apply`` deletes them (tombstones on the changelogs). An
        event of theirs that comes later starts them afresh."""
        prefix = tables.user_prefix(user_id)
        keys = keys_with_prefix(self.videos, prefix)
        keys.update(k for k in self.open.keys(partition) if k.startswith(prefix))
        return Step(partition, erased=user_id.encode(), erased_videos=tuple(sorted(keys)))

    def sweep(self, partition: int) -> Step | None:
        """Close the sessions of ``partition`` idle at its watermark; None if none are."""
        wm = self.open.watermark(partition)
        due = self.open.due(partition)
        if not due:
            return None
        now = datetime.fromtimestamp(wm / 1000, UTC)
        step = Step(partition, watermark_ms=wm)
        for key, st in due:
            user_id, video_id = tables.split_video_key(key)
            new, out = watch_state.close_idle(
                st, now, user_id=user_id, video_id=video_id, rules=self.rules
            )
            if new is st:
                continue
            step.videos[key] = new
            uid = user_id.encode()
            self._outputs(step, uid, step.users.get(uid), out, rewrite=False)
        return step

    def _outputs(
        self, step: Step, uid: bytes, user: UserState | None, out: Outputs, rewrite: bool
    ) -> None:
        if not out:
            return
        step.milestones.extend(out.milestones)
        step.sessions.extend(out.sessions)
        if out.activity:
            old = user if user is not None else self.user(uid)
            new = old
            for act in out.activity:
                new = user_state.note_activity(new, act, self.catalog, self.rules)
            if new is not old or rewrite:
                step.users[uid] = new if new is not None else user_state.EMPTY
        if out.sessions:
            step.history[uid] = self._with_sessions(uid, out.sessions, step.history.get(uid))

    def _with_sessions(
        self, uid: bytes, recs: Iterable[SessionRecord], pending: bytes | None
    ) -> bytes:
        raw = pending if pending is not None else self.history.get(uid)
        docs: list[dict[str, object]] = orjson.loads(raw) if raw else []
        for rec in recs:
            doc = orjson.loads(rec.__pydantic_serializer__.to_json(rec))
            # A session closed again after a crash replaces its first record.
            docs = [d for d in docs if d.get("session_key") != rec.session_key]
            docs.insert(0, doc)
        docs.sort(key=lambda d: str(d.get("ended_at")), reverse=True)
        return orjson.dumps(docs[: self.history_size])

    def apply(self, step: Step) -> None:
        """Write a step's values and bring the caches in line with them."""
        partition, opened = step.partition, self.open
        for key, st in step.videos.items():
            self.videos[key] = self._encoder.encode(st)  # = codec.encode_video(st)
            opened.put(partition, key, st)
        for uid, ust in step.users.items():
            self.users[uid] = codec.encode_user(ust)
            self._thresholds[uid] = preferences.completion_threshold(ust.prefs)
        for uid, raw in step.history.items():
            self.history[uid] = raw
        if step.erased is not None:
            uid = step.erased
            for key in step.erased_videos:
                self.videos[key] = DELETED
                opened.forget(partition, key)
            self.users[uid] = DELETED
            self.history[uid] = DELETED
            self._thresholds.pop(uid, None)
            self._keys = {k: v for k, v in self._keys.items() if k[0].encode() != uid}
        opened.saw(partition, step.watermark_ms)

    # -- assignment ----------------------------------------------------------------------

    def index(self, partition: int, items: Iterable[tuple[bytes, bytes]]) -> int:
        """Rebuild the open-session cache of a newly held partition from its stored states."""
        n = 0
        self.open.drop(partition)
        for key, raw in items:
            doc = orjson.loads(raw)
            if "o" in doc:  # codec: "o" holds the open sessions, absent when there are none
                st = codec.video_from_dict(doc)
                self.open.put(partition, key, st)
                self.open.saw(partition, max(s.cur.t for s in st.open))
                n += 1
        return n

    def forget(self, partition: int) -> None:
        """Drop what is cached for a partition this worker no longer holds."""
        self.open.drop(partition)
        self._thresholds.clear()  # cheap to refill; rebalances are rare
