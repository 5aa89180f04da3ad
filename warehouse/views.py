"""``analytics.duckdb``: the file analysts open, one view per table over the current snapshot.

The file holds nothing but views (with explicit lists of the snapshot's Parquet files) and a
one-row ``_snapshot`` table. It is never modified in place: each commit writes a new one under a
temporary name and renames it over the old, so

- ``duckdb -readonly analytics.duckdb`` (or ``duckdb.connect(path, read_only=True)``) works while
  the sink and the rollup write: DuckDB never has a writer on the file it opened;
- a connection sees one consistent snapshot, all tables at the same version, for as long as it
  stays open (repeatable reads); reconnect, or ``DETACH``/``ATTACH``, to see newer data;
- a snapshot stays readable for the store's ``snapshot_ttl_s`` after it was superseded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse import patches
from warehouse.manifest import DataFile, Manifest
from warehouse.schema import TABLES, Table, public
from warehouse.store import Store, fsync_dir, fsync_file, sql_list

# How some tables are shown to analysts, over their stored rows (``stored``):
# user_all_time adds the current streak, which depends on today's date, so it is computed
# when queried; video_retention is stored as arrays and shown as one row per 1 % bucket.
_PRESENTED = {
    "user_all_time": (
        "SELECT *, CASE WHEN streak_last_day >= CAST(timezone(coalesce(tz, 'UTC'), now()) AS DATE)"
        " - 1 THEN streak_last_days ELSE 0 END AS current_streak_days FROM ({stored})"
    ),
    "video_retention": (
        "SELECT video_id, bucket, views, covered_views, plays, covered_views / views AS "
        "share_of_views, plays / views AS plays_per_view FROM (SELECT video_id, views, "
        "unnest(range(100)) AS bucket, unnest(covered_views) AS covered_views, "
        "unnest(plays) AS plays FROM ({stored}))"
    ),
}


def relation_sql(
    store: Store,
    table: Table,
    files: Sequence[DataFile],
    presented: bool = False,
    where: str = "",
) -> str:
    """A SELECT over ``files`` of ``table`` with the partition column, even when there are none;
    patches among them applied (``warehouse.patches``); only the rows meeting ``where``.

    ``presented`` gives the analysts' shape of the table (see ``_PRESENTED``) instead of its
    stored rows (``where`` then applies to the stored rows).
    """
    plain, patched = patches.split(files)
    stored = _files_sql(store, table, plain)
    if patched:
        stored = patches.merged_sql(
            stored,
            _files_sql(store, table, patched),
            patches.SCOPES[table.name],
            table.partition,
            where,
            adds=all(f.adds for f in patched),
        )
    elif where:
        stored = f"SELECT * FROM ({stored}) WHERE {where}"
    if presented and table.name in _PRESENTED:
        return _PRESENTED[table.name].format(stored=stored)
    return stored


def _files_sql(store: Store, table: Table, files: Sequence[DataFile]) -> str:
    if table.partition is None:
        return f"SELECT * FROM read_parquet({sql_list(store.paths(files, table))})"
    if not files:
        schema = store.abs(store.schema_file(table))
        return f"SELECT *, CAST(NULL AS DATE) AS {table.partition} FROM read_parquet('{schema}')"
    return (
        f"SELECT * FROM read_parquet({sql_list(store.paths(files))}, "
        f"hive_partitioning = true, hive_types = {{'{table.partition}': DATE}})"
    )


def view_sql(store: Store, table: Table, m: Manifest) -> str:
    """The SELECT behind ``table``'s view in snapshot ``m``."""
    return relation_sql(store, table, m.files(table.name), presented=True)


def _changed_tables(old: Manifest, new: Manifest) -> list[Table]:
    return [
        t for t in TABLES.values() if public(t) and old.tables.get(t.name) != new.tables.get(t.name)
    ]


def _published_version(store: Store) -> int | None:
    """The version of the views file, from the marker written right after it (a crash between
    the two leaves the marker behind, and the next commit rebuilds every view)."""
    try:
        return int(_marker(store).read_text())
    except (FileNotFoundError, ValueError):
        return None


def _marker(store: Store) -> Path:
    return store.root / ".analytics.version"


def _publish(store: Store, new: Manifest, tables: list[Table], base: Path | None) -> None:
    tmp = store.root / f".analytics.duckdb.tmp-{uuid.uuid4().hex}"
    try:
        if base is not None:
            shutil.copyfile(base, tmp)
        con = duckdb.connect(str(tmp))
        try:
            for table in tables:
                con.execute(f"CREATE OR REPLACE VIEW {table.name} AS {view_sql(store, table, new)}")
            committed = datetime.fromtimestamp(new.committed_at, UTC)
            con.execute(
                "CREATE OR REPLACE TABLE _snapshot AS SELECT ?::BIGINT AS version, "
                "?::TIMESTAMPTZ AS committed_at, ?::VARCHAR AS root",
                [new.version, committed, str(store.root)],
            )
            con.execute("CHECKPOINT")
        finally:
            con.close()
        fsync_file(tmp)
        marker = _marker(store)
        marker.unlink(missing_ok=True)
        os.replace(tmp, store.views_path)
        fsync_dir(store.root)
        marker.write_text(str(new.version))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{tmp}.wal")


def update_views(store: Store, old: Manifest, new: Manifest) -> None:
    """Publish the views of ``new``; only tables that changed since ``old`` are re-bound."""
    if store.views_path.exists() and _published_version(store) == old.version:
        _publish(store, new, _changed_tables(old, new), store.views_path)
    else:
        _publish(store, new, [t for t in TABLES.values() if public(t)], None)


def ensure_views(store: Store, m: Manifest) -> None:
    """Rebuild the views file if it is missing or lags the manifest (a crash between the two)."""
    if not store.views_path.exists() or _published_version(store) != m.version:
        _publish(store, m, [t for t in TABLES.values() if public(t)], None)


def connect(data_dir: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only analyst connection to the current snapshot (what ``duckdb -readonly`` gives).

    It ATTACHes the views file into a fresh in-memory database rather than opening it directly,
    because DuckDB shares one database instance per path within a process: a second
    ``duckdb.connect(path)`` while another connection to the path is open would see that
    connection's (older) snapshot. Call :func:`refresh` to move a connection to the newest one.
    """
    con = duckdb.connect()
    _attach(con, Path(data_dir).resolve() / "warehouse" / "analytics.duckdb")
    return con


def refresh(con: duckdb.DuckDBPyConnection, data_dir: Path | str) -> None:
    """Point an analyst connection from :func:`connect` at the newest snapshot."""
    con.execute("USE memory")
    con.execute("DETACH warehouse")
    _attach(con, Path(data_dir).resolve() / "warehouse" / "analytics.duckdb")


def _attach(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(f"ATTACH '{path}' AS warehouse (READ_ONLY)")
    con.execute("USE warehouse")
