"""A write-back cache in front of a key-value store: writes land in memory, reads see them.

The worker's hot path writes each state into a ``WriteBack`` instead of a Faust table; a
flush later moves everything written since the previous flush into RocksDB and the changelog
in one bulk write per partition (``streams.bulk``). Three layers, newest first:

- ``pending``: written since the last flush began;
- ``flushing``: the snapshot a flush is writing right now (still read from until it is done,
  so a read during the flush never falls back to an older stored value);
- the backing store.

``begin()`` moves ``pending`` to ``flushing`` and returns it; ``done()`` forgets it once it
is stored; ``abort()`` puts it back under whatever was written since (a failed or cancelled
flush loses nothing, and the newer values still win).

``DELETED`` (an empty value, which no state encodes to) written under a key deletes it: reads
see no value from then on, and the flush deletes it from RocksDB and writes a tombstone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

DELETED = b""


class Store(Protocol):
    """The operations a write-back needs of its backing store (and offers itself)."""

    def get(self, key: bytes) -> bytes | None: ...

    def __setitem__(self, key: bytes, value: bytes) -> None: ...


def keys_with_prefix(store: object, prefix: bytes) -> set[bytes]:
    """The keys of ``store`` that start with ``prefix`` and hold a value: by its own
    ``keys_with_prefix`` (a ``WriteBack``, ``tables.RawStore`` over RocksDB), else as a dict's
    (unit tests, the benchmark's peers)."""
    scan = getattr(store, "keys_with_prefix", None)
    if scan is not None:
        return set(scan(prefix))
    if isinstance(store, Mapping):
        return {k for k, v in store.items() if v and k.startswith(prefix)}
    return set()


class WriteBack:
    def __init__(self, backing: Store) -> None:
        self.backing = backing
        self.pending: dict[bytes, bytes] = {}
        self.flushing: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        value = self.pending.get(key)
        if value is None:
            value = self.flushing.get(key)
            if value is None:
                return self.backing.get(key)
        return value or None  # DELETED reads as no value

    def keys_with_prefix(self, prefix: bytes) -> set[bytes]:
        """The keys starting with ``prefix`` that have a value (deleted ones left out)."""
        keys = keys_with_prefix(self.backing, prefix)
        for layer in (self.flushing, self.pending):  # oldest first: newer layers win
            for key, value in layer.items():
                if key.startswith(prefix):
                    if value:
                        keys.add(key)
                    else:
                        keys.discard(key)
        return keys

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def begin(self) -> dict[bytes, bytes]:
        """What a flush must store: every value written since the last ``begin``."""
        if self.flushing:
            raise RuntimeError("a flush is already in progress")
        self.flushing, self.pending = self.pending, {}
        return self.flushing

    def done(self) -> None:
        """The values returned by ``begin`` are stored: read them from the store again."""
        self.flushing = {}

    def abort(self) -> None:
        """The flush failed: keep its values for the next one (newer writes win)."""
        self.flushing.update(self.pending)
        self.pending, self.flushing = self.flushing, {}

    def __len__(self) -> int:
        return len(self.pending)
