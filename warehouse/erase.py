"""GDPR erase (SPEC §7): remove one user from tier 1 and tier 2, and say what was removed.

Tier-1 files holding the user's rows are rewritten without them (one commit, which also marks
their days dirty); the rollup then recomputes every tier-2 partition of those days, so the
user's rows disappear from the per-user tables and their contribution from the aggregates
(video_daily, retention, chapters, creators). Finally the superseded files are deleted at once
rather than after the snapshot TTL: analyst connections older than the erase may then fail on a
missing file, which is the price of not keeping the user's data around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from warehouse import rollups
from warehouse.errors import ConcurrentChangeError, WarehouseError
from warehouse.manifest import DataFile, DirtyKind, Manifest
from warehouse.schema import EVENTS, MILESTONES, SESSIONS, TIER2_TABLES, USER_TABLES, Table
from warehouse.store import Store, sql_list
from warehouse.views import relation_sql

_MARKS = {
    SESSIONS.name: (DirtyKind.SESSIONS,),
    EVENTS.name: (DirtyKind.VIEW_EVENTS, DirtyKind.PREFS),
    MILESTONES.name: (DirtyKind.MILESTONES,),
}
_ATTEMPTS = 5
TABLES_BY_NAME = {t.name: t for t in USER_TABLES}


@dataclass(frozen=True, slots=True)
class EraseReport:
    user_id: str
    tier1_rows: dict[str, int] = field(default_factory=dict)  # rows removed, per table
    tier2_rows: dict[str, int] = field(default_factory=dict)  # the user's rows removed, per table
    files_rewritten: int = 0
    partitions_recomputed: dict[str, int] = field(default_factory=dict)
    files_purged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "tier1_rows": self.tier1_rows,
            "tier2_rows": self.tier2_rows,
            "files_rewritten": self.files_rewritten,
            "partitions_recomputed": self.partitions_recomputed,
            "files_purged": self.files_purged,
        }


def erase_user(store: Store, user_id: str) -> EraseReport:
    """Remove every row of ``user_id`` from the warehouse; see the module docstring."""
    with store.lock("rollup"):
        con = store.connect()
        try:
            before = _count_tier2(store, con, store.manifest(), user_id)
            tier1_rows, rewritten = _strip_tier1(store, con, user_id)
            report = rollups.run_locked(store, compact=False)
            m = store.manifest()
            leftovers = {n: c for n, c in _count_tier2(store, con, m, user_id).items() if c}
            for name in leftovers:  # should not happen: the rollup recomputed their days
                rewritten += _strip(store, con, TABLES_BY_NAME[name], user_id)[1]
            after = _count_tier2(store, con, store.manifest(), user_id)
            if any(after.values()):
                raise WarehouseError(f"erase of {user_id!r} left rows in {after}")
        finally:
            con.close()
        purged = store.purge_trash()
    return EraseReport(
        user_id=user_id,
        tier1_rows=tier1_rows,
        tier2_rows={n: c for n, c in before.items() if c},
        files_rewritten=rewritten,
        partitions_recomputed=dict(report.rewritten),
        files_purged=purged,
    )


def _count_tier2(
    store: Store, con: duckdb.DuckDBPyConnection, m: Manifest, user_id: str
) -> dict[str, int]:
    out: dict[str, int] = {}
    for table in USER_TABLES:
        if table not in TIER2_TABLES:
            continue
        rel = relation_sql(store, table, m.files(table.name))
        row = con.execute(f"SELECT count(*) FROM ({rel}) WHERE user_id = ?", [user_id]).fetchone()
        out[table.name] = int(row[0]) if row else 0
    return out


def _strip_tier1(
    store: Store, con: duckdb.DuckDBPyConnection, user_id: str
) -> tuple[dict[str, int], int]:
    removed: dict[str, int] = {}
    files = 0
    for table in (EVENTS, MILESTONES, SESSIONS):
        n, f = _strip(store, con, table, user_id)
        if n:
            removed[table.name] = n
        files += f
    return removed, files


def _strip(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    table: Table,
    user_id: str,
) -> tuple[int, int]:
    """Rewrite the files of ``table`` holding ``user_id`` without them, committing with a
    check that nobody replaced them meanwhile; returns (rows removed, files rewritten)."""
    total_rows = total_files = 0
    for _ in range(_ATTEMPTS):
        m = store.manifest()
        located: dict[str, tuple[str, DataFile]] = {
            store.abs(f.path): (key, f)
            for key in m.keys(table.name)
            for f in m.partition(table.name, key)
        }
        if not located:
            break
        hits = con.execute(
            f"SELECT filename, count(*) FROM read_parquet({sql_list(sorted(located))}, "
            "filename = true) WHERE user_id = ? GROUP BY filename",
            [user_id],
        ).fetchall()
        if not hits:
            break
        swaps: list[tuple[str, DataFile, DataFile | None]] = []
        for filename, _n in hits:
            key, old = located[filename]
            new = store.write_query(  # a patch stays a patch (warehouse.patches)
                con,
                f"SELECT * FROM read_parquet('{filename}') WHERE user_id IS DISTINCT FROM ?",
                table,
                key,
                [user_id],
                scope=old.scope,
                adds=old.adds,
            )
            swaps.append((key, old, new))

        def apply(m2: Manifest, swaps: list[tuple[str, DataFile, DataFile | None]] = swaps) -> None:
            for key, old, new in swaps:
                files_now = m2.partition(table.name, key)
                if old not in files_now:
                    raise ConcurrentChangeError(table.name, key, old.path)
                kept = [f for f in files_now if f != old]
                m2.set_partition(table.name, key, kept + ([new] if new else []))
                for kind in _MARKS.get(table.name, ()):
                    m2.mark(kind, key)

        try:
            store.commit(apply)
        except ConcurrentChangeError:
            for _, _, new in swaps:
                if new:
                    (store.root / new.path).unlink(missing_ok=True)
            continue
        total_rows += sum(int(n) for _, n in hits)
        total_files += len(swaps)
    else:
        raise WarehouseError(f"could not erase {user_id!r} from {table.name}: kept changing")
    return total_rows, total_files
