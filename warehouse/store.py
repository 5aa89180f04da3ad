"""The warehouse on disk: layout, locks, atomic manifest commits, Parquet writing, cleanup.

Layout under ``<data_dir>/warehouse``::

    manifest.json                 the current snapshot (see ``manifest``), replaced by rename
    analytics.duckdb              views over the current snapshot, for analysts (see ``views``)
    tier1/<table>/date=YYYY-MM-DD/part-*.parquet      events, milestones, sessions
    tier1/catalog/part-*.parquet                      the catalog, latest version per video
    tier2/<table>/<day|week|month>=YYYY-MM-DD/part-*.parquet
    tier2/<table>/part-*.parquet                      all-time tables (one file)
    <tier>/<table>/_schema-<hash>.parquet             zero rows: the table's columns and types
    .locks/                       flock files: ``manifest`` (commits), ``rollup`` (one rollup)
    .tmp/                         DuckDB spill space

Every data file is written once under a fresh name and never modified; a commit swaps the
manifest (write, fsync, rename) and then the views file. Several processes may write (sink
processes, the rollup, erase-user): they serialise on the ``manifest`` lock only for the commit
itself, which is short.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from warehouse import patches
from warehouse.errors import LockTimeout, ManifestError
from warehouse.manifest import UNPARTITIONED, DataFile, Manifest
from warehouse.schema import TABLES, Table

T = TypeVar("T")
_GLOB_CHARS = frozenset("*?[]{}'")


@dataclass(frozen=True, slots=True)
class WarehouseConfig:
    """Knobs of the warehouse; the entrypoint builds it from ``WATCHFLOW_*`` settings."""

    memory_limit: str | None = None  # DuckDB memory_limit for rollups, e.g. "4GB"
    threads: int | None = None  # DuckDB threads for rollups (default: all cores)
    # DuckDB block_allocator_memory for rollups: memory its buffer blocks keep once touched,
    # reused instead of being handed back and faulted in again by the next step (measured at
    # 100M events: about 2 CPU-s less per full rollup, ~0.6 GB more peak RSS). None or "0": off.
    block_memory: str | None = "2GB"
    snapshot_ttl_s: float = 3600.0  # how long a superseded file stays readable
    lock_timeout_s: float = 120.0
    compact_min_files: int = 8  # compact a tier-1 partition once it has this many small files
    compact_small_rows: int = 2_000_000  # files below this many rows count as small
    row_group_size: int = 100_000
    default_goal_minutes: int = 30  # seed 000: daily_learning_goal_minutes


class Store:
    """One warehouse directory. Cheap to construct; safe to use from several processes."""

    def __init__(
        self,
        data_dir: Path | str,
        config: WarehouseConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(data_dir).resolve() / "warehouse"
        if _GLOB_CHARS & set(str(self.root)):
            raise ValueError(f"warehouse path {self.root} must not contain any of {_GLOB_CHARS}")
        self.config = config or WarehouseConfig()
        self.clock = clock
        self.manifest_path = self.root / "manifest.json"
        self.views_path = self.root / "analytics.duckdb"
        self._shared: duckdb.DuckDBPyConnection | None = None
        self._shared_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        data_dir: Path | str,
        config: WarehouseConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Store:
        """Create the layout if needed and make sure the analyst views match the manifest."""
        store = cls(data_dir, config, clock)
        for sub in (".locks", ".tmp", "tier1", "tier2"):
            (store.root / sub).mkdir(parents=True, exist_ok=True)
        with store.lock("manifest"):
            store._ensure_schema_files()
            if not store.manifest_path.exists():
                store._write_manifest(Manifest(version=0, committed_at=clock()))
            from warehouse.views import ensure_views  # views imports store: import late

            ensure_views(store, store.manifest())
        return store

    # -- paths ---------------------------------------------------------------------------------
    def table_dir(self, table: Table) -> Path:
        return self.root / table.tier.value / table.name

    def abs(self, rel: str) -> str:
        return str(self.root / rel)

    def schema_file(self, table: Table) -> str:
        digest = hashlib.sha256(repr(table.columns).encode()).hexdigest()[:12]
        return f"{table.tier.value}/{table.name}/_schema-{digest}.parquet"

    def new_file(self, table: Table, key: str) -> str:
        """A fresh relative path for a new data file of ``table``'s partition ``key``."""
        name = f"part-{time.time_ns():x}-{uuid.uuid4().hex[:12]}.parquet"
        if table.partition is None or key == UNPARTITIONED:
            return f"{table.tier.value}/{table.name}/{name}"
        return f"{table.tier.value}/{table.name}/{table.partition}={key}/{name}"

    def paths(self, files: Sequence[DataFile], table: Table | None = None) -> list[str]:
        """Absolute paths of ``files``; if there are none, the table's empty schema file."""
        out = [self.abs(f.path) for f in files]
        if not out and table is not None:
            out = [self.abs(self.schema_file(table))]
        return out

    # -- locks ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str, timeout_s: float | None = None) -> Iterator[None]:
        """An exclusive inter-process lock (flock) named ``name``."""
        timeout = self.config.lock_timeout_s if timeout_s is None else timeout_s
        path = self.root / ".locks" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            start = time.monotonic()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - start
                    if waited >= timeout:
                        raise LockTimeout(name, waited) from None
                    time.sleep(0.01)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- manifest ------------------------------------------------------------------------------
    def manifest(self) -> Manifest:
        """The current snapshot. Lock-free: the file is only ever replaced whole."""
        try:
            return Manifest.from_json(self.manifest_path.read_bytes())
        except FileNotFoundError:
            raise ManifestError(str(self.manifest_path), "missing; call Store.open") from None
        except (ValueError, KeyError) as exc:
            raise ManifestError(str(self.manifest_path), str(exc)) from exc

    def commit(self, mutate: Callable[[Manifest], T]) -> tuple[T, Manifest]:
        """Apply ``mutate`` to a copy of the current manifest and publish it atomically.

        ``mutate`` runs under the manifest lock and may raise to abort (nothing is published).
        Files the new manifest no longer lists go to the trash; trash older than the snapshot
        TTL is deleted. Returns what ``mutate`` returned and the published manifest.
        """
        from warehouse.views import update_views

        with self.lock("manifest"):
            old = self.manifest()
            new = old.copy()
            new.version = old.version + 1
            now = self.clock()
            new.committed_at = now
            result = mutate(new)
            for path in old.all_paths() - new.all_paths():
                new.trash[path] = now
            self._collect(new, now, self.config.snapshot_ttl_s)
            self._write_manifest(new)
            update_views(self, old, new)
        return result, new

    def purge_trash(self) -> int:
        """Delete every superseded file now (erase-user: old snapshots stop being readable)."""

        def purge(m: Manifest) -> int:
            return self._collect(m, self.clock(), 0.0)

        n, _ = self.commit(purge)
        return n

    def _collect(self, m: Manifest, now: float, ttl: float) -> int:
        expired = [p for p, t in m.trash.items() if now - t >= ttl]
        for p in expired:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.root / p)
            del m.trash[p]
        return len(expired)

    def _write_manifest(self, m: Manifest) -> None:
        tmp = self.root / f".manifest.json.tmp-{uuid.uuid4().hex}"
        with open(tmp, "wb") as fh:
            fh.write(m.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.manifest_path)
        fsync_dir(self.root)

    # -- DuckDB --------------------------------------------------------------------------------
    def connect(self, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection set up for warehouse work (UTC, limits, spill dir)."""
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET temp_directory = '{self.root / '.tmp'}'")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET parquet_metadata_cache = true")
        n = threads or self.config.threads
        if n:
            con.execute(f"SET threads = {int(n)}")
        if self.config.memory_limit:
            con.execute("SET memory_limit = ?", [self.config.memory_limit])
        return con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on one DuckDB instance this Store keeps, for small frequent writes (the sink):
        saves setting up a database per batch. Close the cursor when done."""
        with self._shared_lock:
            if self._shared is None:
                self._shared = self.connect(threads=2)
            cur = self._shared.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        return cur

    def write_query(
        self,
        con: duckdb.DuckDBPyConnection,
        select_sql: str,
        table: Table,
        key: str,
        params: dict[str, Any] | list[Any] | None = None,
        *,
        order_by: Sequence[str] | None = None,
        compression_level: int | None = None,
        scope: str | None = None,
        adds: bool = False,
    ) -> DataFile | None:
        """Write ``select_sql``'s rows as one new file of ``table``[``key``] (not yet committed).

        Columns are cast to the table's schema and rows sorted by ``order_by`` (default: the
        table's sort key, so files of one table agree; empty: unsorted), zstd at
        ``compression_level`` (default: DuckDB's). A ``scope`` makes the file a patch
        (``warehouse.patches``): its rows also carry the ``_live`` flag, and ``adds`` is
        recorded with it. Returns ``None`` (and leaves nothing behind) when there are no rows.
        """
        rel = self.new_file(table, key)
        path = self.root / rel
        made_dir = not path.parent.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = table.sort_by if order_by is None else order_by
        order = " ORDER BY " + ", ".join(f'"{c}"' for c in columns) if columns else ""
        level = f"COMPRESSION_LEVEL {compression_level}, " if compression_level else ""
        more = f', CAST(q."{patches.LIVE}" AS BOOLEAN) AS "{patches.LIVE}"' if scope else ""
        sql = (
            f"COPY (SELECT {table.select_list('q')}{more} FROM ({select_sql}) q{order}) "
            f"TO '{path}' (FORMAT parquet, COMPRESSION zstd, {level}"
            f"ROW_GROUP_SIZE {self.config.row_group_size})"
        )
        row = con.execute(sql, params).fetchone()
        rows = int(row[0]) if row else 0
        if rows == 0:
            path.unlink(missing_ok=True)
            return None
        fsync_file(path)
        # The file's directory entry (and a new partition directory's) must be durable too,
        # or a power loss could leave a committed manifest naming a file that is gone.
        fsync_dir(path.parent)
        if made_dir:
            fsync_dir(path.parent.parent)
        return DataFile(rel, rows, scope, adds)

    def _ensure_schema_files(self) -> None:
        missing = [t for t in TABLES.values() if not (self.root / self.schema_file(t)).exists()]
        if not missing:
            return
        con = duckdb.connect()
        try:
            for table in missing:
                path = self.root / self.schema_file(table)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
                con.execute(f"COPY ({table.empty_select()}) TO '{tmp}' (FORMAT parquet)")
                os.replace(tmp, path)
        finally:
            con.close()

    # -- housekeeping --------------------------------------------------------------------------
    def vacuum(self) -> list[str]:
        """Delete files no manifest lists (left by a writer that crashed before committing).

        Only files older than the snapshot TTL go, so a writer still working is never robbed.
        """
        m = self.manifest()
        keep = m.all_paths() | set(m.trash)
        now = self.clock()
        removed: list[str] = []
        for tier in ("tier1", "tier2"):
            for path in (self.root / tier).rglob("*"):
                if not path.is_file() or path.name.startswith("_schema-"):
                    continue
                rel = path.relative_to(self.root).as_posix()
                if rel in keep:
                    continue
                if now - path.stat().st_mtime >= self.config.snapshot_ttl_s:
                    path.unlink(missing_ok=True)
                    removed.append(rel)
        for path in self.root.glob(".*.tmp-*"):
            if now - path.stat().st_mtime >= self.config.snapshot_ttl_s:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed


def fsync_file(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sql_list(paths: Sequence[str]) -> str:
    """A SQL list literal of file paths (paths never contain quotes: see ``Store``)."""
    return "[" + ", ".join(f"'{p}'" for p in paths) + "]"
