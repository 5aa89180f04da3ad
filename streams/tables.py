"""The worker's tables: where watch state lives, keyed so one write is O(1).

- ``videos``: per (user, video), key ``user|video`` (raw bytes; a ``|`` or ``%`` inside the
  user id is percent-escaped so the user part is always what precedes the first ``|``),
  value ``codec.encode_video``.
- ``users``: per user, key ``user_id`` (raw bytes, the same bytes as the record key of
  player-events, so Faust's router finds the owner), value ``codec.encode_user``.
- ``history``: per user, the latest closed sessions (JSON list), written only when a
  session closes.

All three are ``UserKeyedTable``: the changelog partition and the RocksDB partition of a key
are its *user's* partition (murmur2 of the user id, as the ingest API partitions
player-events), not "the partition of the event being processed" as in stock Faust. Inside
stream iteration the two are the same number; the difference is that the idle-session sweep
(a timer, outside any stream) may write too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_to_bytes

import faust
from aiokafka.partitioner import murmur2
from faust.stores.rocksdb import Store as RocksStore

_SEP = b"|"
# In each partition's ``videos`` RocksDB (never on the changelog): the last source offset whose
# state may have been stored there, written before that state (see ``Replays`` in agents.py).
STORED_THROUGH = b"__watchflow\x00stored_through__"


def video_key(user_id: str, video_id: str) -> bytes:
    """The ``videos`` key of (user, video); ``user_of`` gives the user back."""
    user = user_id.encode()
    if b"|" in user or b"%" in user:
        user = user.replace(b"%", b"%25").replace(b"|", b"%7C")
    return user + _SEP + video_id.encode()


def user_prefix(user_id: str) -> bytes:
    """What every ``videos`` key of the user starts with."""
    return video_key(user_id, "")


def user_of(key: bytes) -> bytes:
    """The user id (bytes) a ``videos`` or ``users``/``history`` key belongs to."""
    user, sep, _ = key.partition(_SEP)
    if not sep:
        return key  # a per-user key is the user id itself
    return unquote_to_bytes(user) if b"%" in user else user


def split_video_key(key: bytes) -> tuple[str, str]:
    """(user_id, video_id) of a ``videos`` key."""
    _, _, video = key.partition(_SEP)
    return user_of(key).decode(), video.decode()


@lru_cache(maxsize=1 << 16)  # murmur2 in Python costs ~5 µs; a worker sees a user many times
def partition_of(user: bytes, partitions: int) -> int:
    """The partition of a user's events, state and changelog: Kafka's default partitioner."""
    return int(murmur2(user) & 0x7FFFFFFF) % partitions


class _UserKeyedStore(RocksStore):
    """RocksDB store that files a key under its user's partition, with or without an event."""

    def _partition(self, key: bytes) -> int:
        n = self.table.partitions
        assert n is not None  # define() always sets it
        return partition_of(user_of(key), n)

    def _set(self, key: bytes, value: bytes | None) -> None:
        p = self._partition(key)
        self._key_index[key] = p
        self._db_for_partition(p).put(key, value)

    def _get(self, key: bytes) -> bytes | None:
        p = self._partition(key)
        db = self._dbs.get(p)
        if db is None:
            return None  # not a partition this worker holds
        value: bytes | None = db.get(key)
        return value

    def _contains(self, key: bytes) -> bool:
        return self._get(key) is not None


class UserKeyedTable(faust.Table[bytes, bytes]):
    """A table whose keys are partitioned by user (see the module docstring)."""

    def partition_for_key(self, key: Any) -> int:
        n = self.partitions
        assert n is not None  # define() always sets it
        return partition_of(user_of(key), n)

    def _new_store_by_url(self, url: Any) -> Any:
        if not str(url).startswith("rocksdb:"):
            return super()._new_store_by_url(url)  # memory:// in unit tests
        return _UserKeyedStore(
            url,
            self.app,
            self,
            table_name=self.name,
            key_type=self.key_type,
            key_serializer=self.key_serializer,
            value_serializer=self.value_serializer,
            value_type=self.value_type,
            loop=self.loop,
            options=self.options,
        )


class RawStore:
    """Reads of a table's local RocksDB by raw key, below Faust's serializer layers.

    The backing store of the worker's write-back caches (``streams.writeback``): writes go
    through ``streams.bulk`` in batches, never one by one through here."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.table.data._get(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        raise TypeError("write through the write-back cache")

    def keys_with_prefix(self, prefix: bytes) -> set[bytes]:
        """The stored keys starting with ``prefix``, which must name one user (``user|``):
        all of them live in that user's partition."""
        store = self.table.data
        db = store._dbs.get(store._partition(prefix)) if hasattr(store, "_dbs") else None
        if db is None:
            return set()
        keys: set[bytes] = set()
        for key in db.keys(from_key=prefix):
            if not key.startswith(prefix):
                break
            keys.add(key)
        return keys


@dataclass(frozen=True)
class Tables:
    videos: Any
    users: Any
    history: Any

    @property
    def all(self) -> tuple[Any, ...]:
        return (self.videos, self.users, self.history)


def define(app: faust.App, partitions: int) -> Tables:
    """Declare the three tables on ``app`` (raw bytes in and out: the codec does the rest)."""

    def table(name: str, help: str) -> Any:
        t = UserKeyedTable(
            app,
            name=name,
            # bytes types mean the raw codec (key_type=str would JSON-quote the keys).
            key_type=bytes,
            value_type=bytes,
            partitions=partitions,
            help=help,
        )
        return app.tables.add(t)

    return Tables(
        videos=table("videos", "watch state per (user, video)"),
        users=table("users", "settings, marks, queues and recent activity per user"),
        history=table("history", "latest closed sessions per user"),
    )


def local_items(table: Any, partition: int) -> list[tuple[bytes, bytes]]:
    """Every (key, value) this worker's RocksDB holds for ``partition`` of ``table``.

    Used once per assignment to rebuild in-memory indexes, never per event or per tick.
    """
    store = table.data
    db = getattr(store, "_dbs", {}).get(partition)
    if db is None:
        return []
    skip = (store.offset_key, STORED_THROUGH)
    return [(k, v) for k, v in db.items() if k not in skip]


def mark_stored_through(table: Any, partition: int, offset: int) -> None:
    """Note (before storing it) that state of source offsets up to ``offset`` may be stored."""
    table.data._db_for_partition(partition).put(STORED_THROUGH, str(offset).encode())


def stored_through(table: Any, partition: int) -> int | None:
    """The last ``mark_stored_through`` of ``partition`` in this worker's RocksDB, if any."""
    raw = table.data._db_for_partition(partition).get(STORED_THROUGH)
    return None if raw is None else int(raw)
