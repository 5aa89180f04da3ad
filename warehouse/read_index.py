"""An in-process index of the files the summary API reads, so a point lookup is a binary search.

Data files are immutable and uniquely named, so the index is kept *per file* (keyed by its
path) and shared by every snapshot that lists the file: when the manifest changes, only the
files it adds are loaded, the ones it dropped are forgotten, and everything else stays. A
query asks :meth:`SnapshotView.files` for the files of *its* snapshot; it gets their indexes
only if every one of them is loaded, else None and it reads the Parquet files with SQL as
before. Either way the answer is the one of that snapshot (a file's content never changes).

Each file is loaded into a Polars frame sorted by the table's lookup key (stable, so rows of
one key keep their file order), with only the columns the API reads. Loading happens on a
background thread (:class:`ReadIndex`), never on the request path, newest partitions first,
within a memory budget (``budget_bytes``, measured by Polars' ``estimated_size``): files that
do not fit are not indexed and their queries keep using SQL.

A Reader with ``stale_s > 0`` keeps serving the previous snapshot (whose files stay loaded)
until the new one is indexed, then swaps; see ``warehouse.reader``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from warehouse import patches
from warehouse.manifest import DataFile, Manifest

log = logging.getLogger(__name__)

DEFAULT_BUDGET_BYTES = 2 << 30
# The milestones the funnel counts (warehouse.funnel.STEPS; a test keeps them equal).
FUNNEL_STEPS = ("started", "progress_25", "progress_50", "progress_75", "progress_90", "completed")


@dataclass(frozen=True, slots=True)
class Spec:
    """How one table is indexed: its lookup column and the columns kept (None: all)."""

    key: str
    columns: tuple[str, ...] | None = None


SPECS: Mapping[str, Spec] = {
    "catalog": Spec("video_id", ("video_id", "creator_id", "title")),
    "user_all_time": Spec("user_id"),
    "video_retention": Spec("video_id"),
    "course_progress": Spec("creator_id", ()),
    "user_daily": Spec("user_id"),
    "user_weekly": Spec("user_id"),
    "user_monthly": Spec("user_id"),
    "video_daily": Spec("video_id"),
    "creator_daily": Spec("creator_id"),
    "video_viewers": Spec("video_id", ("video_id", "user_id")),
    "views": Spec("video_id", ("video_id", "startup_time_s")),
    "milestones": Spec("video_id", ("video_id", "milestone", "user_id", "cycle")),
}

# course_progress is indexed as its per-(creator, course) aggregate, computed by DuckDB with the
# same expressions as queries.creator_dashboard (so avg() adds in the same order).
COURSES_SQL = """
SELECT creator_id, course_id, count(*) AS students,
    count(*) FILTER (WHERE completed) AS completed,
    avg(progress) AS avg_progress, any_value(required_lessons) AS required_lessons
FROM read_parquet(?)
WHERE creator_id IS NOT NULL
GROUP BY creator_id, course_id
ORDER BY creator_id, course_id
"""


@dataclass(frozen=True, slots=True)
class FileIndex:
    """One data file in memory: ``frame`` sorted by ``key``; ``groups`` per-table extras."""

    frame: pl.DataFrame
    key: str
    nbytes: int
    groups: Mapping[str, list[Any]] = field(default_factory=dict)

    def find(self, value: str) -> pl.DataFrame:
        """The rows whose key equals ``value``, in file order."""
        col = self.frame.get_column(self.key)
        lo = int(col.search_sorted(value, "left"))
        hi = int(col.search_sorted(value, "right"))
        return self.frame.slice(lo, hi - lo)

    def find_many(self, values: list[str]) -> pl.DataFrame:
        """The rows whose key is in ``values`` (sorted, distinct), in file order."""
        col = self.frame.get_column(self.key)
        wanted = pl.Series(values, dtype=pl.String)
        los = col.search_sorted(wanted, "left").to_list()
        his = col.search_sorted(wanted, "right").to_list()
        at = [i for lo, hi in zip(los, his, strict=True) for i in range(lo, hi)]
        return self.frame[at] if at else self.frame.clear()


def load(table: str, path: str, merged: Merged | None = None) -> FileIndex:
    """Read ``path`` (a file of ``table``), or the ``merged`` partition, into a
    :class:`FileIndex`."""
    spec = SPECS[table]
    columns = list(spec.columns) if spec.columns is not None else None
    if merged is not None:
        frame = patches.read_merged(merged.plain, merged.patch, merged.scope, merged.adds, columns)
        return _indexed(table, frame)
    if table == "course_progress":
        con = duckdb.connect(config={"threads": 1})
        try:
            res = con.execute(COURSES_SQL, [path])
            cols = [d[0] for d in res.description or []]
            groups: dict[str, list[Any]] = {}
            for r in res.fetchall():
                row = dict(zip(cols, r, strict=True))
                groups.setdefault(row.pop("creator_id"), []).append(row)
        finally:
            con.close()
        frame = pl.DataFrame({spec.key: []}, schema={spec.key: pl.String})
        return FileIndex(frame, spec.key, 200 * sum(len(v) for v in groups.values()), groups)
    return _indexed(table, pl.read_parquet(path, columns=columns, hive_partitioning=False))


def _indexed(table: str, frame: pl.DataFrame) -> FileIndex:
    spec = SPECS[table]
    if table == "milestones":
        frame = frame.filter(pl.col("milestone").is_in(FUNNEL_STEPS))
    frame = frame.filter(pl.col(spec.key).is_not_null())
    if not frame.get_column(spec.key).is_sorted():
        frame = frame.sort(spec.key, maintain_order=True)
    frame = frame.rechunk()
    groups: dict[str, list[Any]] = {}
    if table == "catalog":
        owned = frame.filter(pl.col("creator_id").is_not_null()).sort("creator_id", "video_id")
        for creator, video in owned.select("creator_id", "video_id").iter_rows():
            groups.setdefault(creator, []).append(video)
    return FileIndex(frame, spec.key, int(frame.estimated_size()) + 64 * len(groups), groups)


_ALL_TIME = ("catalog", "user_all_time", "video_retention", "course_progress")
# Bytes per row until a file of the table has been loaded (then: what loaded files measured).
_GUESS_ROW_BYTES = {"video_retention": 2000, "course_progress": 20}


@dataclass(frozen=True, slots=True)
class Merged:
    """A patched partition, indexed as one entry: its plain files with the patch applied."""

    plain: tuple[str, ...]  # absolute paths
    patch: str
    scope: str
    adds: bool = False


@dataclass(frozen=True, slots=True)
class Wanted:
    table: str
    path: str  # the file's, or for a patched partition its patch's plus MERGED
    rows: int
    merged: Merged | None = None


MERGED = "+merged"


def _ids(files: list[DataFile]) -> list[str]:
    """The index entries of a partition: a file each, or one for a patched partition (its
    patch's path plus MERGED: a partition holds at most one patch)."""
    _, patched = patches.split(files)
    return [patched[0].path + MERGED] if patched else [f.path for f in files]


def _partition(root: str, table: str, files: list[DataFile]) -> list[Wanted]:
    """The index entries of one partition: one per file, or one for a patched partition."""
    plain, patched = patches.split(files)
    if not patched:
        return [Wanted(table, f.path, f.rows) for f in files]
    (patch,) = patched  # a partition holds at most one patch
    assert patch.scope is not None
    paths = tuple(f"{root}/{f.path}" for f in plain)
    merged = Merged(paths, f"{root}/{patch.path}", patch.scope, patch.adds)
    (entry,) = _ids(files)
    return [Wanted(table, entry, sum(f.rows for f in files), merged)]


def wanted(m: Manifest, root: str = "") -> list[Wanted]:
    """Every file the index should hold, most useful first: the all-time tables, then
    partitions newest first."""
    out = [w for t in _ALL_TIME for k in m.keys(t) for w in _partition(root, t, m.partition(t, k))]
    order = list(SPECS)
    parts = [
        (k, -order.index(t), w)
        for t in SPECS
        if t not in _ALL_TIME
        for k, fs in m.tables.get(t, {}).items()
        for w in _partition(root, t, fs)
    ]
    parts.sort(key=lambda p: (p[0], p[1]), reverse=True)
    return out + [w for _, _, w in parts]


class SnapshotView:
    """The index as one snapshot sees it (what a query uses)."""

    def __init__(self, m: Manifest, loaded: Mapping[str, FileIndex]) -> None:
        self.manifest = m
        self._loaded = loaded

    def files(
        self, table: str, keys: Iterable[str] | None = None
    ) -> list[tuple[str, FileIndex]] | None:
        """(partition key, index) of the files of ``table`` in ``keys`` (all if None), in
        ``Manifest.files`` order; None unless every one of them is loaded."""
        parts = self.manifest.tables.get(table, {})
        chosen = sorted(parts) if keys is None else sorted(k for k in set(keys) if k in parts)
        out = []
        for k in chosen:
            for path in _ids(parts[k]):
                idx = self._loaded.get(path)
                if idx is None:
                    return None
                out.append((k, idx))
        return out


class ReadIndex:
    """The loaded files plus the thread that loads what the newest snapshot lists.

    On each new snapshot, :meth:`follow` plans what to hold: the snapshot's files in priority
    order while their (measured or estimated) size fits ``budget_bytes``. Loaded files outside
    the plan are dropped at once, so a newer day displaces the oldest ones.
    """

    def __init__(self, root: str, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.root = root
        self.budget_bytes = budget_bytes
        self._loaded: dict[str, FileIndex] = {}  # replaced, never mutated: readers take it whole
        self._plan: list[Wanted] = []
        self._plan_version = -1
        self._failed: set[str] = set()
        self._row_bytes: dict[str, float] = {}
        self._cond = threading.Condition()
        self._idle = threading.Event()
        self._idle.set()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def used_bytes(self) -> int:
        """Bytes held now (the plan of the newest snapshot, plus, while an older snapshot is
        still served, the files only it uses)."""
        return sum(i.nbytes for i in self._loaded.values())

    def view(self, m: Manifest) -> SnapshotView:
        return SnapshotView(m, self._loaded)

    def follow(self, m: Manifest, keep: Iterable[str] = ()) -> None:
        """Index snapshot ``m`` from now on: load the files it adds, forget the ones it dropped
        except ``keep`` (the files of a snapshot still being served, until :meth:`settle`)."""
        if self.budget_bytes <= 0:
            return
        with self._cond:
            self._plan = self._fit(wanted(m, self.root))
            self._plan_version = m.version
            held = {w.path for w in self._plan} | set(keep)
            self._loaded = {p: i for p, i in self._loaded.items() if p in held}
            self._idle.clear()
            self._cond.notify_all()
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="read-index", daemon=True)
                self._thread.start()

    def complete(self, m: Manifest) -> bool:
        """Whether every file planned for ``m`` (the newest snapshot followed) is loaded."""
        if self.budget_bytes <= 0:
            return True
        loaded = self._loaded
        with self._cond:
            plan, version = self._plan, self._plan_version
        return version == m.version and all(w.path in loaded for w in plan)

    def settle(self) -> None:
        """Forget the files kept for an older snapshot (it is no longer served)."""
        with self._cond:
            held = {w.path for w in self._plan}
            self._loaded = {p: i for p, i in self._loaded.items() if p in held}

    def _size(self, w: Wanted) -> float:
        idx = self._loaded.get(w.path)
        if idx is not None:
            return idx.nbytes
        return w.rows * self._row_bytes.get(w.table, _GUESS_ROW_BYTES.get(w.table, 150))

    def _fit(self, todo: list[Wanted]) -> list[Wanted]:
        plan, total = [], 0.0
        for w in todo:
            total += self._size(w)
            if total > self.budget_bytes:
                break
            plan.append(w)
        return plan

    def wait(self, timeout: float | None = None) -> bool:
        """Until every planned file of the newest snapshot is loaded; False on timeout."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._loaded = {}
            self._cond.notify_all()

    def _next(self) -> Wanted | None:
        for w in self._plan:
            if w.path not in self._loaded and w.path not in self._failed:
                return w
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                job = self._next()
                while job is None and not self._closed:
                    self._idle.set()
                    self._cond.wait()
                    job = self._next()
                if self._closed or job is None:
                    self._idle.set()
                    return
            try:
                idx = load(job.table, f"{self.root}/{job.path}", job.merged)
            except Exception:  # a vanished or unreadable file: SQL answers (or fails) instead
                log.warning("read index: could not load %s", job.path, exc_info=True)
                with self._cond:
                    self._failed.add(job.path)
                continue
            with self._cond:
                if job.rows:
                    self._row_bytes[job.table] = idx.nbytes / job.rows
                held = {w.path for w in self._plan}
                used = sum(i.nbytes for p, i in self._loaded.items() if p in held)
                planned = job.path in held
                if planned and used + idx.nbytes <= self.budget_bytes:
                    self._loaded = {**self._loaded, job.path: idx}
                elif planned:  # bigger than estimated: plan again with what it measured
                    self._plan = [w for w in self._plan if w.path != job.path]
