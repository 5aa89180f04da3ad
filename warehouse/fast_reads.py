"""The summary reads answered from the read index instead of SQL, exactly as the SQL answers.

Each function takes a :class:`~warehouse.read_index.SnapshotView` and returns None when a file
it needs is not indexed (the caller then runs the SQL). The arithmetic mirrors DuckDB's:
integer and decimal sums are exact, DOUBLE sums add in the SQL's scan order (partition order,
then file order), divisions are IEEE double divisions, NULLs are skipped, ``x / 0`` is NULL,
and percentiles are DuckDB's own ``quantile_cont`` over the values gathered from the index.
Tests compare every function with its SQL over the same snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from warehouse.read_index import FUNNEL_STEPS, FileIndex, SnapshotView
from warehouse.schema import TABLES

Row = dict[str, Any]
Found = list[tuple[str, FileIndex]]


def key_rows(found: Found, value: str, partition: str | None = None) -> list[Row]:
    """Every row with key ``value`` in ``found``'s files, with the partition column (a DATE)
    last, as ``SELECT * ... WHERE key = ?`` gives them."""
    out: list[Row] = []
    for k, idx in found:
        rows = idx.find(value).to_dicts()
        if partition is not None:
            day = date.fromisoformat(k)
            for r in rows:
                r[partition] = day
        out += rows
    return out


def lookup(view: SnapshotView, table: str, value: str) -> list[Row] | None:
    """The rows of an all-time table with key ``value`` (None: not indexed)."""
    found = view.files(table)
    return None if found is None else key_rows(found, value)


def distinct(parts: list[pl.Series]) -> int:
    """``count(DISTINCT x)`` over the concatenation of ``parts``."""
    if not parts:
        return 0
    return int(pl.concat(parts).drop_nulls().n_unique())


def add(values: Iterable[Any]) -> Any:
    """``sum``: None if every value is NULL; left to right like DuckDB's single-threaded scan."""
    total: Any = None
    for v in values:
        if v is not None:
            total = v if total is None else total + v
    return total


def zero_if_none(total: Any, table: str, name: str) -> Any:
    """``coalesce(sum(x), 0)`` in the type of the sum of ``table``'s column ``name``."""
    if total is not None:
        return total
    kind = dict(TABLES[table].columns)[name].upper()
    if kind in ("DOUBLE", "FLOAT", "REAL"):
        return 0.0
    if kind.startswith("DECIMAL"):
        scale = int(kind.rstrip(")").split(",")[1]) if "," in kind else 3
        return Decimal(0).scaleb(-scale)
    return 0


def div(a: Any, b: Any) -> float | None:
    """``a / b`` as DuckDB divides numbers: a double, NULL if either is NULL or b is 0."""
    if a is None or b is None or b == 0:
        return None
    return float(a) / float(b)


_PERCENTILES = "SELECT quantile_cont(x, 0.5), quantile_cont(x, 0.95) FROM {}"


def percentiles(
    con: duckdb.DuckDBPyConnection, parts: list[pl.Series]
) -> tuple[float | None, float | None]:
    """DuckDB's own ``quantile_cont`` at 0.5 and 0.95 of the values in ``parts`` (its
    interpolation rounds differently from the textbook formula in the last bit, so it is not
    re-implemented here)."""
    xs = pl.concat(parts).drop_nulls() if parts else pl.Series("x", [], pl.Float64)
    if len(xs) < 2:
        return (xs[0], xs[0]) if len(xs) else (None, None)
    cur = con.cursor()
    try:
        if len(xs) < 3000:  # a list parameter is cheaper for few values, Arrow for many
            found = cur.execute(
                _PERCENTILES.format("(SELECT unnest(?::DOUBLE[]) AS x)"), [xs.to_list()]
            ).fetchone()
        else:
            cur.register("xs", xs.to_frame("x").to_arrow())
            found = cur.execute(_PERCENTILES.format("xs")).fetchone()
    finally:
        cur.close()
    assert found is not None
    return found[0], found[1]


def warm(con: duckdb.DuckDBPyConnection) -> None:
    """Pay the first-use costs of what the reads call (lazy imports such as pyarrow for the
    Arrow hand-off to DuckDB, Polars' thread pool) before serving, not in a request."""
    percentiles(con, [pl.Series("x", [float(i) for i in range(4000)])])
    percentiles(con, [pl.Series("x", [1.0, 2.0, None])])
    distinct([pl.Series("u", ["a", "b", None])])
    pl.DataFrame({"milestone": ["s"], "user_id": ["a"], "cycle": [0]}).group_by("milestone").agg(
        pl.struct("user_id", "cycle").n_unique()
    )


def funnel(view: SnapshotView, video_id: str, keys: Sequence[str]) -> list[Row] | None:
    """``warehouse.funnel.video_funnel`` from the index (the milestones of ``keys``)."""
    found = view.files("milestones", keys)
    if found is None:
        return None
    hits = [idx.find(video_id) for _, idx in found]
    counts: dict[str, tuple[int, int]] = {}
    if hits:
        agg = (
            pl.concat(hits)
            .group_by("milestone")
            .agg(
                pl.struct("user_id", "cycle").n_unique().alias("cycles"),
                pl.col("user_id").drop_nulls().n_unique().alias("users"),
            )
        )
        counts = {step: (c, u) for step, c, u in agg.iter_rows()}
    return [
        {"step": s, "cycles": counts.get(s, (0, 0))[0], "users": counts.get(s, (0, 0))[1]}
        for s in FUNNEL_STEPS
    ]


def retention(view: SnapshotView, video_id: str) -> list[Row] | None:
    """``queries.video_retention`` from the index."""
    stored = lookup(view, "video_retention", video_id)
    if stored is None:
        return None
    out: list[Row] = []
    for r in stored:
        covered, plays = r["covered_views"] or [], r["plays"] or []
        for i in range(max(100, len(covered), len(plays))):
            c = covered[i] if i < len(covered) else None
            p = plays[i] if i < len(plays) else None
            out.append(
                {
                    "bucket": i if i < 100 else None,
                    "views": r["views"],
                    "covered_views": c,
                    "plays": p,
                    "share_of_views": div(c, r["views"]),
                    "plays_per_view": div(p, r["views"]),
                }
            )
    return out


def video_totals(
    view: SnapshotView, con: duckdb.DuckDBPyConnection, video_id: str, keys: Sequence[str]
) -> Row | None:
    """The totals of ``queries.video_analytics`` over the partitions ``keys``."""
    daily = view.files("video_daily", keys)
    viewers = view.files("video_viewers", keys)
    views = view.files("views", keys)
    if daily is None or viewers is None or views is None:
        return None
    rows = key_rows(daily, video_id)

    def total(name: str) -> Any:
        return add(r[name] for r in rows)

    def summed(name: str) -> Any:
        return zero_if_none(total(name), "video_daily", name)

    p50, p95 = percentiles(con, [i.find(video_id).get_column("startup_time_s") for _, i in views])
    watch, rebuffer, n = total("watch_time_s"), total("rebuffer_time_s"), total("views")
    return {
        "views": summed("views"),
        "exits_before_start": summed("exits_before_start"),
        "startup_failures": summed("startup_failures"),
        "unique_viewers": distinct(
            [idx.find(video_id).get_column("user_id") for _, idx in viewers]
        ),
        "watch_time_s": summed("watch_time_s"),
        "avg_watch_time_s": div(watch, n),
        "completions": summed("completions"),
        "completion_rate": div(total("completions"), n),
        "startup_time_p50_s": p50,
        "startup_time_p95_s": p95,
        "rebuffer_time_s": summed("rebuffer_time_s"),
        "rebuffer_ratio": div(
            rebuffer, None if watch is None or rebuffer is None else watch + rebuffer
        ),
        "errors": summed("errors"),
    }


def creator(
    view: SnapshotView, creator_id: str, keys: Sequence[str], top: int
) -> dict[str, Any] | None:
    """totals, daily, top_videos and courses of ``queries.creator_dashboard`` from the index."""
    catalog = view.files("catalog")
    courses = view.files("course_progress")
    daily = view.files("creator_daily", keys)
    videos = view.files("video_daily", keys)
    viewers = view.files("video_viewers", keys)
    if None in (catalog, courses, daily, videos, viewers):
        return None
    if len(courses or ()) != 1 or len(catalog or ()) != 1:  # aggregates of one file each
        return None
    assert catalog is not None
    assert courses is not None
    assert daily is not None
    assert videos is not None
    assert viewers is not None
    owned = sorted({v for _, idx in catalog for v in idx.groups.get(creator_id, [])})
    titles = {
        r["video_id"]: r["title"] for _, idx in catalog for r in idx.find_many(owned).to_dicts()
    }
    # file by file, each in its (video_id) order: the SQL's scan order
    rows = [r for _, idx in videos for r in idx.find_many(owned).to_dicts()]
    users = distinct([idx.find_many(owned).get_column("user_id") for _, idx in viewers])
    views, completions = add(r["views"] for r in rows), add(r["completions"] for r in rows)
    totals = {
        "videos_viewed": len({r["video_id"] for r in rows}),
        "views": zero_if_none(views, "video_daily", "views"),
        "unique_viewers": users,
        "watch_time_s": zero_if_none(
            add(r["watch_time_s"] for r in rows), "video_daily", "watch_time_s"
        ),
        "completions": zero_if_none(completions, "video_daily", "completions"),
        "completion_rate": div(completions, views),
    }
    per_video: dict[str, list[Row]] = {}
    for r in rows:
        if r["video_id"] in titles:
            per_video.setdefault(r["video_id"], []).append(r)
    ranked = []
    for v, rs in per_video.items():
        n, c = add(r["views"] for r in rs), add(r["completions"] for r in rs)
        watch = add(r["watch_time_s"] for r in rs)
        ranked.append(
            {
                "video_id": v,
                "title": titles[v],
                "views": n,
                "watch_time_s": watch,
                "completions": c,
                "completion_rate": div(c, n),
            }
        )
    ranked.sort(key=lambda r: r["video_id"])
    ranked.sort(key=lambda r: (_desc(r["views"]), _desc(r["watch_time_s"])))
    return {
        "totals": totals,
        "daily": key_rows(daily, creator_id, "day"),
        "top_videos": ranked[:top],
        "courses": [dict(r) for r in courses[0][1].groups.get(creator_id, [])],
    }


def _desc(x: Any) -> tuple[int, Any]:
    """Sort key for ``ORDER BY x DESC`` (DuckDB puts NULLs last)."""
    return (1, 0) if x is None else (0, -x)
