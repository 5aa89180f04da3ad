"""A video's completion funnel from tier-1 milestones: started -> 25/50/75/90 % -> completed.

Each milestone is emitted exactly once per (user, video, cycle) (SPEC §4.3), so a step counts
viewing cycles: a rewatch that reaches 50 % again counts again. A step counts the milestones
whose ``ts`` falls on a UTC day in the range, so a viewing that started before the range and
finished in it adds to the later steps only.

This reads tier 1 (one partition per UTC day of the range). Every sink commit changes those
file lists, so the Reader's cache only helps between commits; at tens of millions of milestones
a day a ``video_milestones_daily`` rollup would be the place to count them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from warehouse.queries import Reader

STEPS = ("started", "progress_25", "progress_50", "progress_75", "progress_90", "completed")
_STEPS_SQL = "(" + ", ".join(f"'{s}'" for s in STEPS) + ")"


def video_funnel(reader: Reader, video_id: str, start: date, end: date) -> list[dict[str, Any]]:
    """One row per step of ``STEPS``, in order: ``{"step", "cycles", "users"}`` (0 if none)."""
    keys = reader.keys_between("milestones", start, end)
    counts: dict[str, dict[str, Any]] = {}
    if keys:
        found = reader.rows(
            "SELECT milestone AS step, count(DISTINCT (user_id, cycle)) AS cycles, "
            "count(DISTINCT user_id) AS users "
            f"FROM ({reader.relation('milestones', keys)}) "
            f"WHERE video_id = ? AND milestone IN {_STEPS_SQL} GROUP BY milestone",
            [video_id],
        )
        counts = {r["step"]: r for r in found}
    return [
        {
            "step": step,
            "cycles": int(counts.get(step, {}).get("cycles", 0)),
            "users": int(counts.get(step, {}).get("users", 0)),
        }
        for step in STEPS
    ]
