"""Late data below the day grain: which dirty view days did a batch of late data really change?

The sink's ``write_batch`` records, with every dirty ``sessions`` / ``view_events`` mark, the
(user_id, session_id) pairs of its new sessions and start/play events (``_view_touches``). A
view (``views.sql``) depends only on its session rows, on whether a start/play event of the
same pair exists on that day or the next, and on the catalog (whose changes have their own
mark). So recomputing the views of the touched pairs alone, and comparing them row for row with
the stored ones, tells exactly whether the day's ``views`` partition, and so anything derived
from it (every video and user table), changes. Days whose views did not change are dropped from
the plan (their marks are cleared without recomputing anything); days whose views changed in
few rows are patched (``warehouse.late``: the changed views, then only their videos' and
users' rows of every table); others are recomputed whole. A ``view_events`` mark of D stands
for view days D-1 and D, so it leaves the whole-day plan only if neither needs a whole
recompute.

Late events whose session record is missing (lost, or not yet closed) or whose session already
had its start, duplicated starts, and sessions without any start/play event change no view: the
rollup then only reads the touched pairs' rows (well under a second at 100M events a day).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import duckdb

from warehouse.manifest import DirtyKind, Manifest
from warehouse.schema import EVENTS, SESSIONS, VIEW_TOUCHES, VIEWS
from warehouse.store import Store, sql_list
from warehouse.views import relation_sql

ONE = timedelta(days=1)
# Above this many touched pairs on a day, recomputing the day is about as cheap as checking.
MAX_PAIRS = 200_000
# Above this many changed view rows on a day, the day is recomputed whole instead of patched.
MAX_PATCHED_ROWS = 100_000


def candidate_days(snap: Manifest, marks: Mapping[DirtyKind, Mapping[str, int]]) -> set[date]:
    """View days whose every mark left touches (so they can be checked pair by pair)."""
    sessions = {date.fromisoformat(k) for k in marks.get(DirtyKind.SESSIONS, {})}
    starts = {date.fromisoformat(k) for k in marks.get(DirtyKind.VIEW_EVENTS, {})}
    days = sessions | starts | {d - ONE for d in starts}

    def tracked(day: date) -> bool:
        behind = [(DirtyKind.SESSIONS, day), (DirtyKind.VIEW_EVENTS, day)]
        behind.append((DirtyKind.VIEW_EVENTS, day + ONE))
        return all(
            snap.tracked(kind, d.isoformat())
            for kind, d in behind
            if d.isoformat() in marks.get(kind, {})
        )

    return {d for d in days if tracked(d)}


def changed_views(
    con: duckdb.DuckDBPyConnection, store: Store, snap: Manifest, day: date, tag: str
) -> int | None:
    """How many rows of the views of ``day`` the touches in ``snap`` change; None when there are
    too many pairs to check cheaply (the day is then recomputed whole).

    Leaves the changed rows in tables ``late_removed_<tag>`` (stored rows that go) and
    ``late_added_<tag>`` (rows that come), for a rollup that patches the day
    (``warehouse.late``); :func:`drop_tables` removes them.
    """
    keys = [day.isoformat(), (day + ONE).isoformat()]
    touch_files = snap.files(VIEW_TOUCHES.name, keys)
    if not touch_files:
        return 0
    con.execute(
        "CREATE OR REPLACE TEMP TABLE pairs AS SELECT DISTINCT user_id, session_id "
        f"FROM read_parquet({sql_list(store.paths(touch_files))})"
    )
    row = con.execute("SELECT count(*) FROM pairs").fetchone()
    if row is None or int(row[0]) > MAX_PAIRS:
        return None

    def narrowed(alias: str, rel: str, extra: str = "") -> None:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {alias} AS SELECT t.* FROM ({rel}) t "
            "SEMI JOIN pairs p ON t.user_id = p.user_id AND t.session_id = p.session_id "
            f"{extra}"
        )

    narrowed("sessions", relation_sql(store, SESSIONS, snap.files(SESSIONS.name, keys[:1])))
    narrowed(
        "events",
        relation_sql(store, EVENTS, snap.files(EVENTS.name, keys)),
        "WHERE t.type IN ('start', 'play')",
    )
    narrowed("old_views", relation_sql(store, VIEWS, snap.files(VIEWS.name, keys[:1])))
    con.execute(f"CREATE OR REPLACE TEMP VIEW catalog AS {_catalog(store, snap)}")
    con.execute(f"SET VARIABLE day = DATE '{day.isoformat()}'")
    from warehouse.rollups import sql  # rollups imports this module: import late

    cols = VIEWS.select_list()
    con.execute(f"CREATE OR REPLACE TEMP TABLE new_views AS SELECT {cols} FROM ({sql('views')})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE stored_views AS SELECT {cols} FROM old_views")
    removed, added = f"late_removed_{tag}", f"late_added_{tag}"
    con.execute(
        f"CREATE OR REPLACE TABLE {removed} AS "
        "SELECT * FROM stored_views EXCEPT ALL SELECT * FROM new_views"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {added} AS "
        "SELECT * FROM new_views EXCEPT ALL SELECT * FROM stored_views"
    )
    row = con.execute(
        f"SELECT (SELECT count(*) FROM {removed}) + (SELECT count(*) FROM {added})"
    ).fetchone()
    return int(row[0]) if row else 0


def drop_tables(con: duckdb.DuckDBPyConnection, tag: str) -> None:
    """Drop what :func:`changed_views` left for ``tag``."""
    for name in ("removed", "added"):
        con.execute(f"DROP TABLE IF EXISTS late_{name}_{tag}")


def _catalog(store: Store, snap: Manifest) -> str:
    from warehouse.schema import CATALOG

    return relation_sql(store, CATALOG, snap.files(CATALOG.name))


def classify(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    snap: Manifest,
    marks: Mapping[DirtyKind, Mapping[str, int]],
) -> tuple[set[date], dict[date, str]]:
    """The view days behind ``marks`` whose views the late data provably left as they are, and
    those it changed in few enough rows to patch (day -> the tag of its tables of changed
    rows, see :func:`changed_views`). Every other dirty day is recomputed whole."""
    unchanged: set[date] = set()
    patchable: dict[date, str] = {}
    if not snap.keys(VIEW_TOUCHES.name):
        return unchanged, patchable
    for d in sorted(candidate_days(snap, marks)):
        tag = d.strftime("%Y%m%d")
        changed = changed_views(con, store, snap, d, tag)
        if changed is not None and 0 < changed <= MAX_PATCHED_ROWS:
            patchable[d] = tag  # its tables of changed rows stay for the patch
            continue
        drop_tables(con, tag)
        if changed == 0:
            unchanged.add(d)
    return unchanged, patchable


def reduce_marks(
    marks: Mapping[DirtyKind, Mapping[str, int]], unchanged: set[date]
) -> dict[DirtyKind, dict[str, int]]:
    """``marks`` without the sessions / view_events marks all of whose view days are unchanged
    (the caller still clears them)."""
    out = {k: dict(v) for k, v in marks.items()}
    for key in list(out.get(DirtyKind.SESSIONS, {})):
        if date.fromisoformat(key) in unchanged:
            del out[DirtyKind.SESSIONS][key]
    for key in list(out.get(DirtyKind.VIEW_EVENTS, {})):
        d = date.fromisoformat(key)
        if d in unchanged and d - ONE in unchanged:
            del out[DirtyKind.VIEW_EVENTS][key]
    return {k: v for k, v in out.items() if v}


def drop_consumed(
    m: Manifest, snap: Manifest, covered: Mapping[DirtyKind, Mapping[str, int]]
) -> None:
    """In the manifest being committed, remove the touches the rollup read from ``snap`` for
    the marks it covered (touches added since stay, with the marks that came with them)."""
    keys = {
        k for kind in (DirtyKind.SESSIONS, DirtyKind.VIEW_EVENTS) for k in covered.get(kind, {})
    }
    for key in keys:
        seen = set(snap.partition(VIEW_TOUCHES.name, key))
        m.set_partition(
            VIEW_TOUCHES.name,
            key,
            [f for f in m.partition(VIEW_TOUCHES.name, key) if f not in seen],
        )
