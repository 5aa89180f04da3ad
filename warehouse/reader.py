"""The summary API's handle on the warehouse: one :class:`Reader` per process.

It keeps an in-memory DuckDB instance (with the Parquet metadata cache on: data files are
immutable, so cached footers never go stale) and the current manifest, and reloads the manifest
only when the file changed (one ``stat`` per query). Each query reads exactly the partitions its
date range needs, by explicit file lists, so its cost does not grow with the warehouse's
history. Thread-safe: every query runs on its own cursor.

Results are cached (LRU) by SQL text and parameters. The SQL names the exact files it reads,
and files never change, so an entry is valid for as long as it can be hit: a rollup that
rewrites a partition changes the file list, hence the key; sink commits, which touch only
tier 1, leave dashboard queries cached.

Point lookups do not need SQL at all once the files they read are in the read index
(``warehouse.read_index``), which the Reader keeps following the newest manifest off the
request path. A query takes one :class:`Snapshot` and uses it for every table it reads. With
``stale_s``, a new snapshot is swapped in once its files are indexed (or ``stale_s`` passed),
so the request path rarely needs SQL after a rollup commit.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from warehouse.manifest import Manifest
from warehouse.read_index import DEFAULT_BUDGET_BYTES, ReadIndex, SnapshotView
from warehouse.schema import TABLES
from warehouse.store import Store
from warehouse.views import relation_sql


class NeedsSql(Exception):
    """Raised under :func:`memory_only` by a read that would have to run SQL."""


_MEMORY_ONLY: ContextVar[bool] = ContextVar("memory_only", default=False)


@contextmanager
def memory_only() -> Iterator[None]:
    """Within this block, reads answer from the read index or the result cache only, and raise
    :class:`NeedsSql` instead of running a query (so an event loop can try them inline)."""
    token = _MEMORY_ONLY.set(True)
    try:
        yield
    finally:
        _MEMORY_ONLY.reset(token)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One manifest, the DuckDB instance that reads it, and the read index as it sees it."""

    stamp: tuple[int, int, int]
    manifest: Manifest
    con: duckdb.DuckDBPyConnection
    index: ReadIndex
    # time.monotonic() since when the served snapshot has been older than this one (when the
    # Reader read this manifest, or an earlier one that was never served)
    pending_since: float

    @property
    def view(self) -> SnapshotView:
        return self.index.view(self.manifest)


class Reader:
    """Read-only, cached access to the current snapshot; see the module docstring.

    ``index_bytes`` bounds the read index's memory (0: no index, every query runs SQL).
    ``stale_s``: for at most this long after a new manifest appears, queries keep reading the
    previous snapshot while the index loads the new one's files (then the new snapshot is
    served, from the index where loaded, else by SQL). 0: always the newest snapshot.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        threads: int = 1,
        cache_size: int = 4096,
        index_bytes: int = DEFAULT_BUDGET_BYTES,
        stale_s: float = 0.0,
    ) -> None:
        self.store = Store(data_dir)
        self.threads = threads
        self.index = ReadIndex(str(self.store.root), index_bytes)
        self.stale_s = stale_s
        self._snap: Snapshot | None = None
        self._served: Snapshot | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, tuple[Any, ...]], list[dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size

    def snapshot(self) -> Snapshot:
        """The snapshot a query should read: the newest one (re-read only if ``manifest.json``
        changed), or with ``stale_s`` the previous one while the newest is being indexed."""
        newest = self._newest()
        served = self._served
        if served is newest:
            return newest
        if (
            served is None
            or self.index.complete(newest.manifest)
            or time.monotonic() - newest.pending_since >= self.stale_s
        ):
            with self._lock:
                if self._served is not newest and self._snap is newest:
                    self._served = newest
                    self.index.settle()
            return newest
        return served

    def _newest(self) -> Snapshot:
        st = os.stat(self.store.manifest_path)
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        snap = self._snap
        if snap is not None and snap.stamp == stamp:
            return snap
        with self._lock:
            if self._snap is None or self._snap.stamp != stamp:
                con = duckdb.connect()
                con.execute(f"SET threads = {int(self.threads)}")
                con.execute("SET parquet_metadata_cache = true")
                m = self.store.manifest()
                served, last = self._served, self._snap
                since = last.pending_since if last and last is not served else time.monotonic()
                self._snap = Snapshot(stamp, m, con, self.index, since)
                keep = served.manifest.all_paths() if served and self.stale_s > 0 else set()
                self.index.follow(m, keep)
            return self._snap

    def wait_index(self, timeout: float | None = None) -> bool:
        """Until the read index holds what it plans to of the current snapshot."""
        self.snapshot()
        return self.index.wait(timeout)

    def close(self) -> None:
        self.index.close()

    def relation(
        self, table: str, keys: Iterable[date] | None = None, snap: Snapshot | None = None
    ) -> str:
        """SQL for ``table`` restricted to the partitions ``keys`` (all if None)."""
        m = (snap or self.snapshot()).manifest
        wanted = None if keys is None else [k.isoformat() for k in keys]
        return relation_sql(self.store, TABLES[table], m.files(table, wanted))

    def keys_between(
        self, table: str, start: date, end: date, snap: Snapshot | None = None
    ) -> list[date]:
        """The partition keys of ``table`` in [start, end] that hold data."""
        lo, hi = start.isoformat(), end.isoformat()
        m = (snap or self.snapshot()).manifest
        return [date.fromisoformat(k) for k in m.keys(table) if lo <= k <= hi]

    def rows(
        self, sql: str, params: Sequence[Any] = (), snap: Snapshot | None = None
    ) -> list[dict[str, Any]]:
        """Run ``sql`` and return its rows as dicts (fresh dicts: callers may change them)."""
        key = (sql, tuple(params))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is None:
            if _MEMORY_ONLY.get():
                raise NeedsSql(sql[:80])
            hit = self._query(sql, params, snap or self.snapshot())
            with self._lock:
                self._cache[key] = hit
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return [dict(r) for r in hit]

    def _query(self, sql: str, params: Sequence[Any], snap: Snapshot) -> list[dict[str, Any]]:
        cur = snap.con.cursor()
        try:
            cur.execute("SET TimeZone = 'UTC'")
            res = cur.execute(sql, list(params))
            cols = [d[0] for d in res.description or []]
            return [dict(zip(cols, r, strict=True)) for r in res.fetchall()]
        finally:
            cur.close()
