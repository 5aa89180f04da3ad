"""Tier 1: append decoded records, deduplicated by id, in one atomic commit per batch.

The sink job calls :func:`write_batch` with what it decoded from Kafka, then commits its Kafka
offsets. ``write_batch`` is idempotent: records whose id (event_id, milestone_id, session_key)
is already stored in that date's partition, or repeated inside the batch, are dropped, so a
redelivered batch writes nothing. The same commit records which days became dirty, so the
rollup recomputes exactly those, even after a crash between the two jobs.

Deduplication is bounded: a record is only compared with its own (table, UTC date) partition,
which is where every copy of it lands, because the partition date comes from the record itself.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import duckdb
import pyarrow as pa

from ingest_api.contract import CatalogVideo, EventType, MilestoneRecord, SessionRecord, StartEvent
from warehouse.errors import ConcurrentChangeError
from warehouse.manifest import UNPARTITIONED, DataFile, DirtyKind, Manifest
from warehouse.records import (
    VIEW_TYPES,
    AnyEvent,
    Row,
    catalog_row,
    catalog_row_from_start,
    event_row,
    milestone_row,
    session_row,
    utc_date,
)
from warehouse.schema import CATALOG, EVENTS, MILESTONES, SESSIONS, TABLES, VIEW_TOUCHES, Table
from warehouse.store import Store, sql_list


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one batch changed. ``touched`` lists the tier-1 (table, UTC date) partitions that got
    new rows; the rollup finds them again through the manifest's dirty marks."""

    version: int | None  # manifest version committed, None if the batch held nothing new
    written: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    touched: frozenset[tuple[str, date]] = frozenset()
    catalog_changed: bool = False


@dataclass(slots=True)
class _Group:
    rows: list[Row] = field(default_factory=list)
    view_events: bool = False
    prefs: bool = False
    touches: list[Row] = field(default_factory=list)  # (user_id, session_id) of views touched


def write_batch(
    store: Store,
    *,
    events: Iterable[AnyEvent] = (),
    milestones: Iterable[MilestoneRecord] = (),
    sessions: Iterable[SessionRecord] = (),
    catalog: Iterable[CatalogVideo] = (),
) -> WriteResult:
    """Append a batch to tier 1 atomically and idempotently; see the module docstring.

    ``catalog`` upserts replace a video's catalog row. A ``start`` event's ``video`` object adds
    a catalog row only for videos the catalog does not know yet (marked ``origin='event'``).
    """
    groups: dict[tuple[Table, str], _Group] = defaultdict(_Group)
    from_starts: list[Row] = []
    for ev in events:
        g = groups[(EVENTS, utc_date(ev.ts).isoformat())]
        g.rows.append(event_row(ev))
        if ev.type in VIEW_TYPES:
            g.view_events = True
            g.touches.append(_touch(ev.user_id, getattr(ev, "session_id", None)))
        g.prefs |= ev.type is EventType.SET_PREFERENCES
        if isinstance(ev, StartEvent):
            from_starts.append(catalog_row_from_start(ev))
    for m in milestones:
        groups[(MILESTONES, utc_date(m.ts).isoformat())].rows.append(milestone_row(m))
    for s in sessions:
        g = groups[(SESSIONS, utc_date(s.started_at).isoformat())]
        g.rows.append(session_row(s))
        g.touches.append(_touch(s.user_id, s.session_id))
    upserts = [catalog_row(c) for c in catalog]
    if not groups and not upserts and not from_starts:
        return WriteResult(version=None)

    written: dict[str, int] = defaultdict(int)
    seen: dict[str, int] = defaultdict(int)
    touched: set[tuple[str, date]] = set()
    con = store.cursor()

    def apply(m: Manifest) -> bool:
        for (table, key), g in sorted(groups.items(), key=lambda kv: (kv[0][0].name, kv[0][1])):
            seen[table.name] += len(g.rows)
            f = _append(store, con, m, table, key, g.rows)
            if f is None:
                continue
            m.add_file(table.name, key, f)
            written[table.name] += f.rows
            touched.add((table.name, date.fromisoformat(key)))
            if g.touches:  # a superset of what changed (duplicates included): harmless
                t = _write_touches(store, con, key, g.touches)
                if t is not None:
                    m.add_file(VIEW_TOUCHES.name, key, t)
            if table is SESSIONS:
                m.mark(DirtyKind.SESSIONS, key, touches=True)
            elif table is MILESTONES:
                m.mark(DirtyKind.MILESTONES, key)
            else:
                if g.view_events:
                    m.mark(DirtyKind.VIEW_EVENTS, key, touches=True)
                if g.prefs:
                    m.mark(DirtyKind.PREFS, key)
        changed = _merge_catalog(store, con, m, upserts, from_starts)
        if changed:
            m.mark(DirtyKind.CATALOG, UNPARTITIONED)
        if not touched and not changed:
            raise _NothingNew
        return changed

    try:
        changed, published = store.commit(apply)
    except _NothingNew:
        return WriteResult(
            version=None,
            duplicates={t: n for t, n in seen.items() if n},
        )
    finally:
        con.close()
    return WriteResult(
        version=published.version,
        written=dict(written),
        duplicates={t: seen[t] - written.get(t, 0) for t in seen if seen[t] - written.get(t, 0)},
        touched=frozenset(touched),
        catalog_changed=changed,
    )


class _NothingNew(Exception):
    """Raised inside a commit to abort it: the whole batch was already stored."""


def _touch(user_id: str, session_id: str | None) -> Row:
    return {"user_id": user_id, "session_id": session_id}


def _write_touches(
    store: Store, con: duckdb.DuckDBPyConnection, key: str, touches: list[Row]
) -> DataFile | None:
    con.register("touches_in", pa.Table.from_pylist(touches))
    try:
        return store.write_query(
            con,
            "SELECT DISTINCT user_id, session_id FROM touches_in WHERE session_id IS NOT NULL",
            VIEW_TOUCHES,
            key,
        )
    finally:
        con.unregister("touches_in")


def _register(con: duckdb.DuckDBPyConnection, name: str, rows: list[Row]) -> None:
    ordered = [{**r, "_ord": i} for i, r in enumerate(rows)]
    con.register(name, pa.Table.from_pylist(ordered))


def _append(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    m: Manifest,
    table: Table,
    key: str,
    rows: list[Row],
) -> DataFile | None:
    """Write the rows of ``rows`` whose id is new to partition ``key``; None if there are none."""
    (id_col,) = table.key
    _register(con, "batch", rows)
    try:
        existing = m.partition(table.name, key)
        anti = ""
        if existing:
            # only stored ids that are in the batch: the hash table is the batch's, not the day's
            anti = (
                f'WHERE "{id_col}" NOT IN (SELECT "{id_col}" '
                f"FROM read_parquet({sql_list(store.paths(existing))}) "
                f'WHERE "{id_col}" IN (SELECT "{id_col}" FROM batch))'
            )
        sql = (
            f"SELECT * FROM batch {anti} "
            f'QUALIFY row_number() OVER (PARTITION BY "{id_col}" ORDER BY _ord) = 1'
        )
        return store.write_query(con, sql, table, key)
    finally:
        con.unregister("batch")


def _merge_catalog(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    m: Manifest,
    upserts: list[Row],
    from_starts: list[Row],
) -> bool:
    """Write a new catalog file if the upserts or unknown videos change it; True if they did."""
    if not upserts and not from_starts:
        return False
    current = m.files(CATALOG.name)
    cols = ", ".join(f'"{c}"' for c in CATALOG.column_names)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE cur AS SELECT {cols} "
        f"FROM read_parquet({sql_list(store.paths(current, CATALOG))})"
    )
    for name, rows in (("upd_in", upserts), ("evt_in", from_starts)):
        if rows:
            _register(con, name, rows)
        else:
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT *, 0 AS _ord FROM cur LIMIT 0"
            )
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE upd AS
            SELECT {CATALOG.select_list()} FROM upd_in
            QUALIFY row_number() OVER (PARTITION BY video_id ORDER BY _ord DESC) = 1;
            CREATE OR REPLACE TEMP TABLE evt AS
            SELECT {CATALOG.select_list()} FROM evt_in
            WHERE video_id NOT IN (SELECT video_id FROM cur)
              AND video_id NOT IN (SELECT video_id FROM upd)
            QUALIFY row_number() OVER (PARTITION BY video_id ORDER BY updated_at, _ord) = 1;
            """
        )
        row = con.execute(
            "SELECT (SELECT count(*) FROM evt) + (SELECT count(*) FROM ("
            "  SELECT * FROM upd EXCEPT SELECT * FROM cur))"
        ).fetchone()
        if not row or row[0] == 0:
            return False
        f = store.write_query(
            con,
            "SELECT * FROM cur WHERE video_id NOT IN (SELECT video_id FROM upd) "
            "UNION ALL SELECT * FROM upd UNION ALL SELECT * FROM evt",
            CATALOG,
            UNPARTITIONED,
        )
        m.set_partition(CATALOG.name, UNPARTITIONED, [f] if f else [])
        return True
    finally:
        for name in ("upd_in", "evt_in"):
            with contextlib.suppress(duckdb.Error):
                con.unregister(name)
            con.execute(f"DROP VIEW IF EXISTS {name}")


def _mergeable(store: Store, files: list[DataFile]) -> list[list[DataFile]]:
    """Groups of small files worth merging, size-tiered: files are grouped by order of
    magnitude (base ``compact_min_files``) and a group is merged once it has that many, so a
    row is rewritten about log(n) times, not once per batch that follows it."""
    base = max(2, store.config.compact_min_files)
    tiers: dict[int, list[DataFile]] = defaultdict(list)
    for f in files:
        if f.rows < store.config.compact_small_rows:
            tiers[int(math.log(max(f.rows, 1), base))].append(f)
    return [group for _, group in sorted(tiers.items()) if len(group) >= base]


def compact(store: Store, table_name: str, key: str) -> bool:
    """Merge a tier-1 partition's small files (deduplicated, sorted); True if it did.

    Runs outside the manifest lock and commits only if none of its input files changed
    meanwhile (files the sink added in between are kept as they are).
    """
    table = TABLES[table_name]
    (id_col,) = table.key
    groups = _mergeable(store, store.manifest().partition(table.name, key))
    if not groups:
        return False
    merged: list[tuple[list[DataFile], DataFile | None]] = []
    con = store.connect()
    try:
        for group in groups:
            out = store.write_query(
                con,
                f"SELECT * FROM read_parquet({sql_list(store.paths(group))}) "
                f'QUALIFY row_number() OVER (PARTITION BY "{id_col}") = 1',
                table,
                key,
            )
            merged.append((group, out))
    finally:
        con.close()

    def swap(m: Manifest) -> None:
        files = m.partition(table.name, key)
        for group, out in merged:
            for f in group:
                if f not in files:
                    raise ConcurrentChangeError(table.name, key, f.path)
            files = [f for f in files if f not in group] + ([out] if out else [])
        m.set_partition(table.name, key, files)

    try:
        store.commit(swap)
    except ConcurrentChangeError:
        for _, out in merged:
            if out:
                (store.root / out.path).unlink(missing_ok=True)
        return False
    return True


def compact_tier1(store: Store, keys: Iterable[str] | None = None) -> int:
    """Compact every tier-1 partition (or those with the given date keys) that needs it."""
    m = store.manifest()
    wanted = set(keys) if keys is not None else None
    done = 0
    for table in (EVENTS, MILESTONES, SESSIONS):
        for key in m.keys(table.name):
            if wanted is not None and key not in wanted:
                continue
            if _mergeable(store, m.partition(table.name, key)):
                done += compact(store, table.name, key)
    return done
