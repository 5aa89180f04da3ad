"""A rollup's workspace: binding inputs, computing and staging partitions, on one DuckDB
database with a connection per thread.

Every tier-2 SQL file (``warehouse/sql/<table>.sql``, grain in its header) is a SELECT over
temp views named after its inputs, filtered by its variables. :class:`Workspace` binds those
views to exactly the partitions a step needs (``INPUTS``), runs the SQL, writes the result as a
new file per partition, and stages it in a private copy of the manifest that later steps read
and that ``warehouse.rollups`` publishes in one commit.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import date, timedelta
from pathlib import Path

import duckdb

from warehouse import patches, retention
from warehouse.manifest import UNPARTITIONED, DataFile, Manifest
from warehouse.schema import TABLES, Table
from warehouse.store import Store, sql_list
from warehouse.views import relation_sql

SQL_DIR = Path(__file__).with_name("sql")

# Input tables of each SQL file and the partition keys it needs, as day offsets from the
# partition being computed (None: every partition). Restricting inputs is only for speed: each
# SQL file filters by its variables itself, so it also runs over the full analyst views.
INPUTS: dict[str, dict[str, tuple[int, int] | None]] = {
    "views": {"sessions": (0, 0), "events": (0, 1), "catalog": None},
    "video_viewers": {"views": (0, 0)},
    "video_daily": {"views": (0, 0)},
    "video_retention_daily": {"views": (0, 0)},
    "chapter_daily": {"views": (0, 0), "catalog": None},
    "creator_daily": {"video_daily": (0, 0), "video_viewers": (0, 0), "catalog": None},
    "user_prefs": {"events": (0, 0)},
    "user_activity": {"views": (-1, 1), "user_prefs": None},
    "user_daily": {"user_activity": (0, 0), "user_prefs": None},
    "user_weekly": {"user_activity": (0, 6), "user_daily": (0, 6)},
    "user_monthly": {"user_activity": (0, 30), "user_daily": (0, 30)},
    "video_retention": {},  # bound by _video_retention: previous, removed, added
    "user_all_time_activity": {"user_activity": None, "catalog": None},
    "user_all_time": {"user_daily": None},  # and user_all_time_activity's result
    "course_progress": {"milestones": None, "catalog": None},
}


# Tables whose files the readers (``warehouse/read_index.py``, ``warehouse/queries.py``) look
# up by key, and the order their files are written in: the read index finds a file already in
# key order, and the SQL path's lookups skip row groups by their min/max. ``views`` and
# ``video_viewers`` are looked up by video only (startup times for percentiles, user ids for
# exact distinct counts: neither depends on the order within a video), so their 2M rows a day
# are sorted by video_id alone. The other tier-2 tables are read whole by later rollup steps
# only: their files skip the sort. ``Store.write_query`` (erase-user) still writes every table
# in its full ``sort_by`` order, which satisfies these too.
READ_ORDER: dict[str, tuple[str, ...]] = {
    "views": ("video_id",),
    "video_viewers": ("video_id",),
    **{
        t: TABLES[t].sort_by
        for t in (
            "video_daily",
            "creator_daily",
            "video_retention",
            "user_daily",
            "user_weekly",
            "user_monthly",
            "user_all_time",
            "course_progress",
        )
    },
}

# zstd level 1 instead of the default 3: at 100M events it writes the tier-2 files with about a
# quarter less CPU, for files 1-2 % larger, which read as fast.
ZSTD_LEVEL = 1


@functools.cache
def sql(name: str) -> str:
    """The SELECT of ``warehouse/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text().strip().rstrip(";")


class Workspace:
    """One rollup's working state: the snapshot it reads, a copy with what it has staged, the
    DuckDB connection of each thread, and how a step binds its inputs and writes a partition."""

    def __init__(self, store: Store, snap: Manifest, timings: dict[str, float]) -> None:
        self.store = store
        self.snap = snap
        self.work = snap.copy()  # the snapshot plus what this run has staged
        self.staged: dict[tuple[str, str], list[DataFile]] = {}
        self.timings = timings
        self.main = store.connect()
        if store.config.block_memory not in (None, "", "0"):
            self.main.execute("SET block_allocator_memory = ?", [store.config.block_memory])
        self._local = threading.local()  # each worker thread's own cursor (see parallel)
        self.setup(self.main)

    def setup(self, con: duckdb.DuckDBPyConnection) -> None:
        goal = int(self.store.config.default_goal_minutes)
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET VARIABLE default_goal_minutes = {goal}")

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection: temp views and variables are per connection, so the
        independent chains of a rollup can run side by side on one database."""
        con: duckdb.DuckDBPyConnection | None = getattr(self._local, "con", None)
        return con if con is not None else self.main

    def parallel(
        self, *chains: Callable[[], None], first_done: Callable[[], object] | None = None
    ) -> None:
        """Run independent chains of steps at once, each on its own cursor. DuckDB keeps both
        cores busy only part of the time (sorts, Parquet writes, Python steps); chains
        overlap those gaps. Each chain stages different tables, so the order does not matter.
        ``first_done`` runs on the calling thread as soon as one chain has ended."""

        def run(chain: Callable[[], None]) -> None:
            self._local.con = self.main.cursor()
            try:
                self.setup(self._local.con)
                chain()
            finally:
                self._local.con.close()
                self._local.con = None

        with ThreadPoolExecutor(max_workers=len(chains)) as pool:
            futures = [pool.submit(run, c) for c in chains]
            if first_done is not None:
                wait(futures, return_when=FIRST_COMPLETED)
                first_done()
            for done in futures:
                done.result()

    # -- plumbing ------------------------------------------------------------------------------
    def bind(
        self, name: str, files: list[DataFile], alias: str | None = None, where: str = ""
    ) -> None:
        rel = relation_sql(self.store, TABLES[name], files, where=where)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {alias or name} AS {rel}")

    def bind_inputs(
        self,
        output: str,
        first: date | None,
        last: date | None = None,
        where: Mapping[str, str] | None = None,
    ) -> None:
        """Bind each input of ``output`` to the partitions that computing its partitions
        ``first``..``last`` needs (all of them when the window is None or there is no key),
        filtered by ``where[input]`` if given."""
        last = last or first
        where = where or {}
        for name, window in INPUTS[output].items():
            if window is None or first is None or last is None:
                self.bind(name, self.work.files(name), where=where.get(name, ""))
                continue
            lo, hi = first + timedelta(days=window[0]), last + timedelta(days=window[1])
            keys = [(lo + timedelta(days=d)).isoformat() for d in range((hi - lo).days + 1)]
            self.bind(name, self.work.files(name, keys), where=where.get(name, ""))

    def stage(self, name: str, key: str, f: DataFile | None) -> None:
        self._replace(name, key, [f] if f else [])

    def _replace(self, name: str, key: str, files: list[DataFile]) -> None:
        """Stage ``files`` as partition ``key`` of ``name``. A file this run wrote for the
        partition earlier (a patch replaced by the next patch) was never committed: it goes."""
        committed = self.snap.partition(name, key)
        for old in self.staged.get((name, key), []):
            if old not in files and old not in committed:
                (self.store.root / old.path).unlink(missing_ok=True)
        self.work.set_partition(name, key, files)
        self.staged[(name, key)] = files

    def partition(self, name: str, key: date) -> None:
        table = TABLES[name]
        self.bind_inputs(name, key)
        self.con.execute(f"SET VARIABLE {table.partition} = DATE '{key.isoformat()}'")
        query = sql(name)
        if name == "video_retention_daily":  # the SQL's figures, computed with numpy
            views = self.con.sql(
                "SELECT video_id, duration_s, played_intervals FROM views "
                "WHERE day = getvariable('day') AND duration_s > 0"
            ).to_arrow_table()
            self.con.register("retention_counts", retention.daily_counts(views))
            query = "SELECT *, getvariable('day') AS day FROM retention_counts"
        try:
            f = self.write(query, table, key.isoformat())
        finally:
            if name == "video_retention_daily":
                self.con.unregister("retention_counts")
        self.stage(name, key.isoformat(), f)

    def run_of_days(self, name: str, days: list[date]) -> None:
        """Compute consecutive ``days`` of ``name`` in one pass (its SQL takes first_day and
        last_day), then write each day's partition from the result."""
        table = TABLES[name]
        first, last = days[0], days[-1]
        self.bind_inputs(name, first, last)
        self.con.execute(f"SET VARIABLE first_day = DATE '{first.isoformat()}'")
        self.con.execute(f"SET VARIABLE last_day = DATE '{last.isoformat()}'")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE ranged AS {sql(name)}")
        for day in days:
            key = day.isoformat()
            f = self.write(f"SELECT * FROM ranged WHERE day = DATE '{key}'", table, key)
            self.stage(name, key, f)
        self.con.execute("DROP TABLE ranged")

    def write(self, select_sql: str, table: Table, key: str) -> DataFile | None:
        """``Store.write_query`` for the rollup: one new file of ``table``[``key``] (not yet
        committed), columns cast to the schema; sorted by ``READ_ORDER``'s columns where readers
        look rows up by key, else unsorted; zstd at ``ZSTD_LEVEL``. None if no rows."""
        return self.store.write_query(
            self.con,
            select_sql,
            table,
            key,
            order_by=READ_ORDER.get(table.name, ()),
            compression_level=ZSTD_LEVEL,
        )

    def patch(self, name: str, key: str, rows_sql: str, scope_sql: str, adds: bool = False) -> None:
        """Stage partition ``key`` of ``name`` with ``rows_sql``'s rows in place of the rows of
        the scope values ``scope_sql`` lists (``warehouse.patches``): as a patch, or, once the
        patch would pass ``FOLD_FRACTION`` of the partition, as one plain file. ``adds``: the
        caller knows no scope value is in the partition yet (``DataFile.adds``)."""
        t0 = time.perf_counter()
        try:
            self._patch(name, key, rows_sql, scope_sql, adds)
        finally:
            self.timed(f"patch_{name}", t0)

    def _patch(self, name: str, key: str, rows_sql: str, scope_sql: str, adds: bool) -> None:
        table = TABLES[name]
        scope = patches.SCOPES[name]
        plain, old = patches.split(self.work.partition(name, key))
        if not plain and not old:  # nothing to supersede: the rows are the partition
            self.stage(name, key, self.write(rows_sql, table, key))
            return
        old_sql = f"SELECT * FROM read_parquet({sql_list(self.store.paths(old))})" if old else None
        f = self.store.write_query(
            self.con,
            patches.patch_sql(rows_sql, scope, scope_sql, old_sql),
            table,
            key,
            order_by=READ_ORDER.get(name, ()),
            compression_level=ZSTD_LEVEL,
            scope=scope,
            adds=adds and all(p.adds for p in old),
        )
        if f is None:  # nothing to supersede and nothing new
            return
        if f.rows > patches.FOLD_FRACTION * sum(p.rows for p in plain):
            merged = relation_sql(self.store, table, [*plain, f])
            try:
                self.stage(name, key, self.write(merged, table, key))
            finally:
                (self.store.root / f.path).unlink(missing_ok=True)
            return
        self._replace(name, key, [*plain, f])

    def timed(self, step: str, t0: float) -> None:
        self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - t0

    def distinct(self, column: str, files: Iterable[DataFile]) -> None:
        """Fill temp table ``scope`` with the distinct ``column`` values of ``files``."""
        paths = sorted({self.store.abs(f.path) for f in files})
        src = (
            f"SELECT DISTINCT {column} FROM read_parquet({sql_list(paths)})"
            if paths
            else f"SELECT NULL::VARCHAR AS {column} LIMIT 0"
        )
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE scope AS {src}")

    def merge_keyed(self, name: str, new_sql: str, keep_old: bool = True) -> None:
        """Rewrite an all-time table: old rows outside ``scope`` (unless a full rebuild drops
        them all), plus ``new_sql``'s rows."""
        table = TABLES[name]
        (key,) = table.key
        old = relation_sql(self.store, table, self.work.files(name) if keep_old else [])
        merged = (
            f"SELECT * FROM ({old}) WHERE {key} NOT IN (SELECT {key} FROM scope) "
            f"UNION ALL BY NAME ({new_sql})"
        )
        self.stage(name, UNPARTITIONED, self.write(merged, table, UNPARTITIONED))

    # -- the rollup ----------------------------------------------------------------------------

    def close(self) -> None:
        self.main.close()
