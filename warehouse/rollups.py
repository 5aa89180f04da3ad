"""Rollups: recompute exactly the tier-2 partitions that new or late tier-1 data touched.

One :func:`run` reads one snapshot, finds the dirty marks in it (``plan``), recomputes every
affected partition of every tier-2 table with the SQL in ``warehouse/sql/`` (one file per table,
grain in its header, re-runnable for one partition), writes each as a new file, and publishes
all of them, together with the cleared marks, in a single manifest commit: the whole rollup is
one transaction, so readers see all of it or none of it. Running it again with nothing dirty
changes nothing; recomputing a partition from the same tier-1 data gives the same rows.

The heavy work is DuckDB SQL over Parquet with the store's ``memory_limit`` and ``threads``
(``warehouse.workspace`` binds inputs and writes partitions); streaks are a Polars step
(``warehouse.streaks``), the retention counts a numpy one (``warehouse.retention``). Late data
that changes no view is detected pair by pair and recomputes nothing (``warehouse.touches``);
late data that changes a few views recomputes only their videos' and users' rows, staged as
patches of the partitions (``warehouse.late``, ``warehouse.patches``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from warehouse import late, retention, tier1, touches
from warehouse.manifest import UNPARTITIONED, DataFile, DirtyKind, Manifest
from warehouse.plan import Plan, plan
from warehouse.priority import yield_cpu
from warehouse.records import FINGERPRINT_FIELDS
from warehouse.schema import CATALOG_SEEN, EVENTS, MILESTONES, SESSIONS, TABLES
from warehouse.store import Store
from warehouse.streaks import streaks
from warehouse.workspace import INPUTS, SQL_DIR, Workspace, sql

__all__ = ["INPUTS", "SQL_DIR", "RollupReport", "run", "run_locked", "sql"]

VIDEO_DAY_TABLES = ("video_viewers", "video_daily", "video_retention_daily", "chapter_daily")


@dataclass(frozen=True, slots=True)
class RollupReport:
    version: int | None  # the manifest version published, None if nothing was dirty
    plan: Plan
    patched: frozenset[date] = frozenset()  # view days patched (``warehouse.late``), not redone
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
        r.close()


class _Run(Workspace):
    """The rollup's steps, in order, on a :class:`Workspace`."""

    def execute(self, full: bool) -> RollupReport:
        marks = {kind: self.snap.marks(kind) for kind in DirtyKind}
        if full:
            marks = self._everything(marks)
        t0 = time.perf_counter()
        catalog_days = self._catalog_changes() if marks.get(DirtyKind.CATALOG) else set()
        self.timed("catalog_diff", t0)
        patchable: dict[date, str] = {}
        wanted = marks
        if not full:  # late data below the day grain: skip or patch days it changed little
            t0 = time.perf_counter()
            unchanged, patchable = touches.classify(self.con, self.store, self.snap, marks)
            wanted = touches.reduce_marks(marks, unchanged | set(patchable))
            self.timed("late_check", t0)
        local_keys = self.snap.keys("user_activity")
        p = plan(
            wanted,
            catalog_view_days=catalog_days,
            newest_local_day=date.fromisoformat(local_keys[-1]) if local_keys else None,
        )
        p = replace(p, covers={k: dict(v) for k, v in marks.items() if v})
        if full:
            p = self._with_existing(p)
        for d in [d for d in patchable if d in p.view_days]:  # recomputed whole anyway
            touches.drop_tables(self.con, patchable.pop(d))
        if p.empty and not self.staged and not p.covers:
            return RollupReport(version=None, plan=p, seconds=self.timings)

        old_activity = self.snap.files("user_activity", (d.isoformat() for d in p.local_days))
        old_retention = self.snap.files(
            "video_retention_daily", (d.isoformat() for d in p.view_days)
        )
        self._views_then_chains(p, old_retention, old_activity, full)
        # after the whole days, so a patch recomputes its keys from their newest inputs
        for day, tag in sorted(patchable.items()):
            t0 = time.perf_counter()
            try:
                late.patch_day(self, day, tag)
            finally:
                touches.drop_tables(self.con, tag)
            self.timed("late_patch", t0)
        return self._publish(p, frozenset(patchable))

    def _views_then_chains(
        self, p: Plan, old_retention: list[DataFile], old_activity: list[DataFile], full: bool
    ) -> None:
        for day in sorted(p.view_days):
            t0 = time.perf_counter()
            self.partition("views", day)
            self.timed("views", t0)
        # Two chains on two cursors, each already a thread of its own: DuckDB's pool, shared
        # by the whole connection, gets half the threads, or it oversubscribes the cores
        # (measured at 100M on 2 cores: 30 -> 25.5 CPU-s, 15.3 -> 14.3 s). The chain still
        # running when the other ends gets the whole pool; the pool's new threads start from
        # this thread, so they keep its priority.
        threads = self.store.config.threads or os.cpu_count() or 1
        self.con.execute(f"SET threads = {max(1, threads // 2)}")

        def video_chain() -> None:
            yield_cpu()
            self._video_chain(p, old_retention, full)

        try:
            self.parallel(
                video_chain,
                lambda: self._user_chain(p, old_activity, full),
                first_done=lambda: self.con.execute(f"SET threads = {threads}"),
            )
        finally:
            self.con.execute(f"SET threads = {threads}")

    def _video_chain(self, p: Plan, old_retention: list[DataFile], full: bool) -> None:
        """The video tables, then course progress (which reads no views): the views get both
        cores to themselves, and this chain ends well before the user chain."""
        for day in sorted(p.view_days):
            for name in (*VIDEO_DAY_TABLES, "creator_daily"):
                t0 = time.perf_counter()
                self.partition(name, day)
                self.timed(name, t0)
        if p.view_days:
            t0 = time.perf_counter()
            self._video_retention(p, old_retention, full)
            self.timed("video_retention", t0)
        self._course_progress(p)

    def _user_chain(self, p: Plan, old_activity: list[DataFile], full: bool) -> None:
        for day in sorted(p.pref_days):
            self.partition("user_prefs", day)
        t0 = time.perf_counter()
        for run in _consecutive(sorted(p.local_days)):
            self.run_of_days("user_activity", run)
        self.timed("user_activity", t0)
        # all-time's watching figures need only user_activity: they are computed while the days
        # are written; the weeks and months then run beside the rest of all-time
        done = threading.Event()
        written: list[bool] = []

        def days_then_periods() -> None:
            try:
                t0 = time.perf_counter()
                for day in sorted(p.local_days):
                    self.partition("user_daily", day)
                self.timed("user_daily", t0)
                written.append(True)
            finally:
                done.set()
            self._user_periods(p)

        def days_written() -> None:
            done.wait()
            if not written:  # the other chain raises its own error: parallel reports it first
                raise RuntimeError("user_daily was not written")

        def all_time() -> None:
            if p.local_days:
                self._user_all_time(old_activity, full, days_written)

        self.parallel(days_then_periods, all_time)

    def _user_periods(self, p: Plan) -> None:
        t0 = time.perf_counter()
        for week in sorted(p.weeks):
            self.partition("user_weekly", week)
        for month in sorted(p.months):
            self.partition("user_monthly", month)
        self.timed("user_periods", t0)

    def _course_progress(self, p: Plan) -> None:
        if p.course_progress:
            t0 = time.perf_counter()
            self.bind_inputs("course_progress", None)
            f = self.write(sql("course_progress"), TABLES["course_progress"], UNPARTITIONED)
            self.stage("course_progress", UNPARTITIONED, f)
            self.timed("course_progress", t0)

    def _video_retention(self, p: Plan, removed: list[DataFile], full: bool) -> None:
        daily = "video_retention_daily"
        if full:  # rebuild from every day instead of patching the previous totals
            previous, removed, added = [], [], self.work.files(daily)
        else:
            previous = self.snap.files("video_retention")
            added = self.work.files(daily, (d.isoformat() for d in p.view_days))
        self.distinct("video_id", [*removed, *added])
        in_scope = "video_id IN (SELECT video_id FROM scope)"
        self.bind("video_retention", previous, alias="previous", where=in_scope)
        self.bind(daily, removed, alias="removed")
        self.bind(daily, added, alias="added")
        # the sums that sql/video_retention.sql defines, computed with numpy
        counts = {a: self.con.table(a).to_arrow_table() for a in ("previous", "removed", "added")}
        self.con.register("retention_totals", retention.totals(**counts))
        try:
            self.merge_keyed("video_retention", "SELECT * FROM retention_totals", keep_old=not full)
        finally:
            self.con.unregister("retention_totals")

    def _user_all_time(
        self, old_activity: list[DataFile], full: bool, days_written: Callable[[], None]
    ) -> None:
        """user_all_time for every user (``full``) or the users of the dirty local days, over
        all their days; its watching half first, the days half once ``days_written`` returns."""
        t0 = time.perf_counter()
        in_scope = ""  # a full rebuild: every user, none of the old rows kept
        if full:
            self.distinct("user_id", [])
        else:
            # a copy: the other chains stage partitions meanwhile (list() of a dict's items is
            # taken whole under the GIL; iterating the dict itself could see it change size)
            staged = list(self.staged.items())
            new = [f for (n, _), fs in staged if n == "user_activity" for f in fs]
            self.distinct("user_id", [*old_activity, *new])
            in_scope = "user_id IN (SELECT user_id FROM scope)"
        self.bind_inputs("user_all_time_activity", None, where={"user_activity": in_scope})
        activity = sql("user_all_time_activity")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE user_all_time_activity AS {activity}")
        self.timed("user_all_time_activity", t0)
        t1 = time.perf_counter()
        days_written()
        self.timed("user_all_time_waiting", t1)
        self.bind_inputs("user_all_time", None, where={"user_daily": in_scope})
        goal_days = self.con.sql("SELECT user_id, day FROM user_daily WHERE goal_met").pl()
        self.con.register("streaks", streaks(goal_days).to_arrow())
        try:
            self.merge_keyed("user_all_time", sql("user_all_time"), keep_old=not full)
        finally:
            self.con.unregister("streaks")
            self.con.execute("DROP TABLE user_all_time_activity")
        self.timed("user_all_time", t0)

    def _catalog_changes(self) -> set[date]:
        """Stage what the rollup has now seen of the catalog; return the days on which videos
        whose creator, channel, course, chapters or duration changed were viewed."""
        fields = ", ".join(f"{c} := {c}" for c in FINGERPRINT_FIELDS)
        self.bind("catalog", self.work.files("catalog"))
        self.bind(CATALOG_SEEN.name, self.work.files(CATALOG_SEEN.name))
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
        f = self.write(fingerprints, CATALOG_SEEN, UNPARTITIONED)
        self.stage(CATALOG_SEEN.name, UNPARTITIONED, f)
        self.bind("video_daily", self.work.files("video_daily"))
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

    def _publish(self, p: Plan, patched: frozenset[date]) -> RollupReport:
        staged = dict(self.staged)

        def apply(m: Manifest) -> None:
            for (name, key), files in staged.items():
                m.set_partition(name, key, files)
            for kind, done in p.covers.items():
                m.clear(kind, done)
            touches.drop_consumed(m, self.snap, p.covers)

        t0 = time.perf_counter()
        _, published = self.store.commit(apply)
        self.timed("commit", t0)
        rewritten: dict[str, int] = {}
        for name, _ in staged:
            rewritten[name] = rewritten.get(name, 0) + 1
        return RollupReport(published.version, p, patched, rewritten, self.timings)


def _consecutive(days: list[date]) -> list[list[date]]:
    """Split sorted days into runs of consecutive days."""
    runs: list[list[date]] = []
    for d in days:
        if runs and d - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs
