"""Patches: how a rollup changes a few keys of a big tier-2 partition without rewriting it.

Late data touches a handful of users and videos of a day whose partitions hold millions of
rows; rewriting those files costs seconds, recomputing the few keys milliseconds. So the rollup
may add a *patch* to a partition: a file (its ``DataFile.scope`` names the column it is keyed
by, ``SCOPES``) holding, for every scope value it covers, the value's new rows (``_live``
true) and one tombstone (only the scope column set, ``_live`` false). A reader sees the
partition as the rows of its plain files whose scope value the patch does not list, plus the
patch's live rows: merge on read, as Iceberg's equality deletes or Delta's deletion vectors do.

A partition holds at most one patch: a new patch folds the previous one in (patches are small),
and once a patch would pass ``FOLD_FRACTION`` of the partition's plain rows the rollup writes
the partition as one plain file instead; a full recompute of a partition replaces it whole.

Every SQL reader goes through :func:`merged_sql` (via ``warehouse.views.relation_sql``: the
analysts' views, the API's SQL path, the rollup's own inputs); the API's read index loads a
patched partition merged (``warehouse.read_index``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb
import polars as pl

from warehouse.manifest import DataFile

LIVE = "_live"

# The column each patchable table's patches are keyed by: every row of a scope value is
# recomputed from inputs that the same value selects (a video's views, a user's activity).
SCOPES: Mapping[str, str] = {
    "views": "session_key",
    "video_viewers": "user_id",
    "video_daily": "video_id",
    "video_retention_daily": "video_id",
    "chapter_daily": "video_id",
    "creator_daily": "creator_id",
    "user_activity": "user_id",
    "user_daily": "user_id",
    "user_weekly": "user_id",
    "user_monthly": "user_id",
    "user_all_time": "user_id",
    "video_retention": "video_id",
}

# A patch larger than this share of its partition's plain rows is folded into a new plain file.
FOLD_FRACTION = 0.1


def split(files: Sequence[DataFile]) -> tuple[list[DataFile], list[DataFile]]:
    """``files`` as (plain files, patches)."""
    plain = [f for f in files if f.scope is None]
    return plain, [f for f in files if f.scope is not None]


def merged_sql(
    plain_sql: str,
    patch_sql: str,
    scope: str,
    partition: str | None,
    where: str = "",
    adds: bool = False,
) -> str:
    """The rows of ``plain_sql`` not superseded by the patch rows of ``patch_sql`` (matched on
    the scope column and, for a partitioned table, the partition column), plus the patches'
    live rows; only those meeting ``where``, if given (applied before the patch, so only the
    rows it keeps are matched against it; never to tombstones, which carry no other column).
    Both inputs must carry the partition column when there is one. ``adds``: the patches only
    add rows (``DataFile.adds``), so the plain rows are taken without matching."""
    on = [scope] + ([partition] if partition else [])
    cols = ", ".join(f'"{c}"' for c in on)
    cond = " AND ".join(f'b."{c}" = p."{c}"' for c in on)
    kept = f" AND ({where})" if where else ""
    plain = f"SELECT * FROM ({plain_sql}) WHERE {where}" if where else plain_sql
    live = f'SELECT * EXCLUDE ("{LIVE}") FROM ({patch_sql}) WHERE "{LIVE}"{kept}'
    if adds:
        return f"{plain} UNION ALL BY NAME {live}"
    return (
        f"WITH patch AS ({patch_sql}) "
        f"SELECT b.* FROM ({plain}) b "
        f"ANTI JOIN (SELECT DISTINCT {cols} FROM patch) p ON {cond} "
        f'UNION ALL BY NAME SELECT * EXCLUDE ("{LIVE}") FROM patch WHERE "{LIVE}"{kept}'
    )


def patch_sql(rows_sql: str, scope: str, scope_sql: str, old_patch_sql: str | None) -> str:
    """The rows of a new patch: ``rows_sql``'s rows (the new rows of the scope values), a
    tombstone for each value ``scope_sql`` lists, and the previous patch's entries for the
    values it does not list."""
    parts = [
        f'SELECT *, true AS "{LIVE}" FROM ({rows_sql})',
        f'SELECT DISTINCT "{scope}", false AS "{LIVE}" FROM ({scope_sql})',
    ]
    if old_patch_sql:
        parts.append(
            f'SELECT * FROM ({old_patch_sql}) WHERE "{scope}" NOT IN '
            f'(SELECT "{scope}" FROM ({scope_sql}))'
        )
    return " UNION ALL BY NAME ".join(f"({p})" for p in parts)


def read_merged(
    plain: Sequence[str], patch: str, scope: str, adds: bool, columns: Sequence[str] | None
) -> pl.DataFrame:
    """One partition as readers see it, from its plain files' and its patch's absolute paths
    (``columns``, or all), for the API's read index."""
    patch_rel = f"SELECT * FROM read_parquet('{patch}', hive_partitioning = false)"
    listed = ", ".join(f"'{p}'" for p in plain)
    plain_rel = (
        f"SELECT * FROM read_parquet([{listed}], hive_partitioning = false)"
        if plain
        else f'SELECT * EXCLUDE ("{LIVE}") FROM ({patch_rel}) WHERE false'
    )
    rel = merged_sql(plain_rel, patch_rel, scope, None, adds=adds)
    cols = ", ".join(f'"{c}"' for c in columns) if columns is not None else "*"
    con = duckdb.connect(config={"threads": 1})
    try:
        frame: pl.DataFrame = con.sql(f"SELECT {cols} FROM ({rel})").pl()
        return frame
    finally:
        con.close()
