"""Rollups: recompute exactly the tier-2 partitions that new or late tier-1 data touched.

One :func:`run` reads one snapshot, finds the dirty marks in it (``plan``), recomputes every
affected partition of every tier-2 table with the SQL in ``warehouse/sql/`` (one file per table,
grain in its header, re-runnable for one partition), writes each as a new file, and publishes
all of them, together with the cleared marks, in a single manifest commit: the whole rollup is
one transaction, so readers see all of it or none of it. Running it again with nothing dirty
changes nothing; recomputing a partition from the same tier-1 data gives the same rows.

The heavy work is DuckDB SQL over Parquet with the store's ``memory_limit`` and ``threads``;
streaks are a Polars step (``warehouse.streaks``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from warehouse import tier1
from warehouse.manifest import UNPARTITIONED, DataFile, DirtyKind, Manifest
from warehouse.plan import Plan, plan
from warehouse.records import FINGERPRINT_FIELDS
from warehouse.schema import CATALOG_SEEN, EVENTS, MILESTONES, SESSIONS, TABLES
from warehouse.store import Store, sql_list
from warehouse.streaks import streaks
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
    "user_all_time": {"user_activity": None, "user_daily": None, "catalog": None},
    "course_progress": {"milestones": None, "catalog": None},
}
VIDEO_DAY_TABLES = ("video_viewers", "video_daily", "video_retention_daily", "chapter_daily")


@functools.cache
def sql(name: str) -> str:
    """The SELECT of ``warehouse/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text().strip().rstrip(";")


@dataclass(frozen=True, slots=True)
class RollupReport:
    version: int | None  # the manifest version published, None if nothing was dirty
    plan: Plan
    rewritten: dict[str, int] = field(default_factory=dict)  # table -> partitions written
    seconds: dict[str, float] = field(default_factory=dict)  # step -> wall time


def run(store: Store, *, full: bool = False, compact: bool = True) -> RollupReport:
    """Recompute what is dirty (or, with ``full``, everything) and publish it atomically.

    Holds the ``rollup`` lock, so one rollup runs at a time per warehouse. ``compact`` first
    merges small tier-1 files of dirty days (faster reads for this and later runs).
    """
    with store.lock("rollup"):
        return run_locked(store, full=full, compact=compact)


def run_locked(store: Store, *, full: bool = False, compact: bool = True) -> RollupReport:
    """:func:`run` for a caller that already holds the ``rollup`` lock (erase-user)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if compact:
        m = store.manifest()
        tier1.compact_tier1(store, {k for kind in DirtyKind for k in m.marks(kind)})
        timings["compact"] = time.perf_counter() - t0
    r = _Run(store, store.manifest(), timings)
    try:
        return r.execute(full)
    finally:
        r.con.close()


class _Run:
    def __init__(self, store: Store, snap: Manifest, timings: dict[str, float]) -> None:
        self.store = store
        self.snap = snap
        self.work = snap.copy()  # the snapshot plus what this run has staged
        self.staged: dict[tuple[str, str], list[DataFile]] = {}
        self.timings = timings
        self.con = store.connect()
        goal = int(store.config.default_goal_minutes)
        self.con.execute(f"SET VARIABLE default_goal_minutes = {goal}")

    # -- plumbing ------------------------------------------------------------------------------
    def _bind(self, name: str, files: list[DataFile], alias: str | None = None) -> None:
        rel = relation_sql(self.store, TABLES[name], files)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {alias or name} AS {rel}")

    def _bind_inputs(self, output: str, first: date | None, last: date | None = None) -> None:
        """Bind each input of ``output`` to the partitions that computing its partitions
        ``first``..``last`` needs (all of them when the window is None or there is no key)."""
        last = last or first
        for name, window in INPUTS[output].items():
            if window is None or first is None or last is None:
                self._bind(name, self.work.files(name))
                continue
            lo, hi = first + timedelta(days=window[0]), last + timedelta(days=window[1])
            keys = [(lo + timedelta(days=d)).isoformat() for d in range((hi - lo).days + 1)]
            self._bind(name, self.work.files(name, keys))

    def _stage(self, name: str, key: str, f: DataFile | None) -> None:
        files = [f] if f else []
        self.work.set_partition(name, key, files)
        self.staged[(name, key)] = files

    def _partition(self, name: str, key: date) -> None:
        table = TABLES[name]
        self._bind_inputs(name, key)
        self.con.execute(f"SET VARIABLE {table.partition} = DATE '{key.isoformat()}'")
        self._stage(
            name,
            key.isoformat(),
            self.store.write_query(self.con, sql(name), table, key.isoformat()),
        )

    def _run_of_days(self, name: str, days: list[date]) -> None:
        """Compute consecutive ``days`` of ``name`` in one pass (its SQL takes first_day and
        last_day), then write each day's partition from the result."""
        table = TABLES[name]
        first, last = days[0], days[-1]
        self._bind_inputs(name, first, last)
        self.con.execute(f"SET VARIABLE first_day = DATE '{first.isoformat()}'")
        self.con.execute(f"SET VARIABLE last_day = DATE '{last.isoformat()}'")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE ranged AS {sql(name)}")
        for day in days:
            key = day.isoformat()
            f = self.store.write_query(
                self.con, f"SELECT * FROM ranged WHERE day = DATE '{key}'", table, key
            )
            self._stage(name, key, f)
        self.con.execute("DROP TABLE ranged")

    def _timed(self, step: str, t0: float) -> None:
        self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - t0

    def _distinct(self, column: str, files: Iterable[DataFile]) -> None:
        """Fill temp table ``scope`` with the distinct ``column`` values of ``files``."""
        paths = sorted({self.store.abs(f.path) for f in files})
        src = (
            f"SELECT DISTINCT {column} FROM read_parquet({sql_list(paths)})"
            if paths
            else f"SELECT NULL::VARCHAR AS {column} LIMIT 0"
        )
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE scope AS {src}")

    def _merge_keyed(self, name: str, new_sql: str, keep_old: bool = True) -> None:
        """Rewrite an all-time table: old rows outside ``scope`` (unless a full rebuild drops
        them all), plus ``new_sql``'s rows."""
        table = TABLES[name]
        (key,) = table.key
        old = relation_sql(self.store, table, self.work.files(name) if keep_old else [])
        merged = (
            f"SELECT * FROM ({old}) WHERE {key} NOT IN (SELECT {key} FROM scope) "
            f"UNION ALL BY NAME ({new_sql})"
        )
        self._stage(
            name, UNPARTITIONED, self.store.write_query(self.con, merged, table, UNPARTITIONED)
        )

    # -- the rollup ----------------------------------------------------------------------------
    def execute(self, full: bool) -> RollupReport:
        marks = {kind: self.snap.marks(kind) for kind in DirtyKind}
        if full:
            marks = self._everything(marks)
        t0 = time.perf_counter()
        catalog_days = self._catalog_changes() if marks.get(DirtyKind.CATALOG) else set()
        self._timed("catalog_diff", t0)
        local_keys = self.snap.keys("user_activity")
        p = plan(
            marks,
            catalog_view_days=catalog_days,
            newest_local_day=date.fromisoformat(local_keys[-1]) if local_keys else None,
        )
        if full:
            p = self._with_existing(p)
        if p.empty and not self.staged:
            return RollupReport(version=None, plan=p, seconds=self.timings)

        old_activity = self.snap.files("user_activity", (d.isoformat() for d in p.local_days))
        old_retention = self.snap.files(
            "video_retention_daily", (d.isoformat() for d in p.view_days)
        )
        for day in sorted(p.view_days):
            t0 = time.perf_counter()
            self._partition("views", day)
            self._timed("views", t0)
            for name in (*VIDEO_DAY_TABLES, "creator_daily"):
                t0 = time.perf_counter()
                self._partition(name, day)
                self._timed(name, t0)
        for day in sorted(p.pref_days):
            self._partition("user_prefs", day)
        t0 = time.perf_counter()
        for run in _consecutive(sorted(p.local_days)):
            self._run_of_days("user_activity", run)
        self._timed("user_activity", t0)
        t0 = time.perf_counter()
        for day in sorted(p.local_days):
            self._partition("user_daily", day)
        for week in sorted(p.weeks):
            self._partition("user_weekly", week)
        for month in sorted(p.months):
            self._partition("user_monthly", month)
        self._timed("user_periods", t0)

        if p.local_days:
            t0 = time.perf_counter()
            self._user_all_time(old_activity, full)
            self._timed("user_all_time", t0)
        if p.view_days:
            t0 = time.perf_counter()
            self._video_retention(p, old_retention, full)
            self._timed("video_retention", t0)
        if p.course_progress:
            t0 = time.perf_counter()
            self._bind_inputs("course_progress", None)
            f = self.store.write_query(
                self.con, sql("course_progress"), TABLES["course_progress"], UNPARTITIONED
            )
            self._stage("course_progress", UNPARTITIONED, f)
            self._timed("course_progress", t0)
        return self._publish(p)

    def _video_retention(self, p: Plan, removed: list[DataFile], full: bool) -> None:
        daily = "video_retention_daily"
        if full:  # rebuild from every day instead of patching the previous totals
            previous, removed, added = [], [], self.work.files(daily)
        else:
            previous = self.snap.files("video_retention")
            added = self.work.files(daily, (d.isoformat() for d in p.view_days))
        self._bind("video_retention", previous, alias="previous")
        self._bind(daily, removed, alias="removed")
        self._bind(daily, added, alias="added")
        self._distinct("video_id", [*removed, *added])
        self._merge_keyed("video_retention", sql("video_retention"), keep_old=not full)

    def _user_all_time(self, old_activity: list[DataFile], full: bool) -> None:
        new = [f for (name, _), fs in self.staged.items() if name == "user_activity" for f in fs]
        self._distinct("user_id", [*old_activity, *new])
        self._bind_inputs("user_all_time", None)
        goal_days = self.con.sql(
            "SELECT user_id, day FROM user_daily "
            "WHERE goal_met AND user_id IN (SELECT user_id FROM scope)"
        ).pl()
        self.con.register("streaks", streaks(goal_days).to_arrow())
        try:
            self._merge_keyed("user_all_time", sql("user_all_time"), keep_old=not full)
        finally:
            self.con.unregister("streaks")

    def _catalog_changes(self) -> set[date]:
        """Stage what the rollup has now seen of the catalog; return the days on which videos
        whose creator, channel, course, chapters or duration changed were viewed."""
        fields = ", ".join(f"{c} := {c}" for c in FINGERPRINT_FIELDS)
        self._bind("catalog", self.work.files("catalog"))
        self._bind(CATALOG_SEEN.name, self.work.files(CATALOG_SEEN.name))
        fingerprints = (
            f"SELECT video_id, md5(CAST(struct_pack({fields}) AS VARCHAR)) AS fingerprint "
            "FROM catalog"
        )
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE changed AS
            SELECT video_id
            FROM ({fingerprints}) now
            FULL JOIN {CATALOG_SEEN.name} seen USING (video_id)
            WHERE now.fingerprint IS DISTINCT FROM seen.fingerprint
            """
        )
        f = self.store.write_query(self.con, fingerprints, CATALOG_SEEN, UNPARTITIONED)
        self._stage(CATALOG_SEEN.name, UNPARTITIONED, f)
        self._bind("video_daily", self.work.files("video_daily"))
        rows = self.con.execute(
            "SELECT DISTINCT day FROM video_daily WHERE video_id IN (SELECT video_id FROM changed)"
        ).fetchall()
        return {r[0] for r in rows if r[0] is not None}

    def _everything(
        self, marks: Mapping[DirtyKind, Mapping[str, int]]
    ) -> dict[DirtyKind, dict[str, int]]:
        v = self.snap.version
        out = {k: dict(m) for k, m in marks.items()}
        for kind, table in (
            (DirtyKind.SESSIONS, SESSIONS),
            (DirtyKind.VIEW_EVENTS, EVENTS),
            (DirtyKind.PREFS, EVENTS),
            (DirtyKind.MILESTONES, MILESTONES),
        ):
            for key in self.snap.keys(table.name):
                out.setdefault(kind, {}).setdefault(key, v)
        out.setdefault(DirtyKind.CATALOG, {}).setdefault(UNPARTITIONED, v)
        return out

    def _with_existing(self, p: Plan) -> Plan:
        """A full rebuild also rewrites tier-2 partitions whose tier-1 data is gone."""

        def keys(table: str) -> set[date]:
            return {date.fromisoformat(k) for k in self.snap.keys(table)}

        return Plan(
            view_days=p.view_days | keys("views") | keys("video_daily"),
            pref_days=p.pref_days | keys("user_prefs"),
            local_days=p.local_days | keys("user_activity") | keys("user_daily"),
            weeks=p.weeks | keys("user_weekly"),
            months=p.months | keys("user_monthly"),
            course_progress=True,
            covers=p.covers,
        )

    def _publish(self, p: Plan) -> RollupReport:
        staged = dict(self.staged)

        def apply(m: Manifest) -> None:
            for (name, key), files in staged.items():
                m.set_partition(name, key, files)
            for kind, done in p.covers.items():
                m.clear(kind, done)

        t0 = time.perf_counter()
        _, published = self.store.commit(apply)
        self._timed("commit", t0)
        rewritten: dict[str, int] = {}
        for name, _ in staged:
            rewritten[name] = rewritten.get(name, 0) + 1
        return RollupReport(published.version, p, rewritten, self.timings)


def _consecutive(days: list[date]) -> list[list[date]]:
    """Split sorted days into runs of consecutive days."""
    runs: list[list[date]] = []
    for d in days:
        if runs and d - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs
