"""Which tier-2 partitions a rollup recomputes, given what changed in tier 1. Pure.

The dependencies it encodes (each tier-2 SQL file states the same in its header):

- ``views`` of UTC day D read sessions started on D and start/play events of D and D+1, so
  new sessions of D dirty D, and new start/play events of D dirty D-1 and D.
- the video tables (video_viewers, video_daily, video_retention_daily, chapter_daily,
  creator_daily) of day D read ``views`` of D (and the catalog).
- ``user_activity`` of local day L reads views of UTC days L-1..L+1 (time zones span -12..+14 h),
  so a views day D dirties local days D-1..D+1.
- a set_preferences event can change a user's time zone or goal from its instant on, so a
  preference day P dirties local days from P-1 to the newest local day there is.
- weeks and months follow their days; all-time tables follow any of their days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from warehouse.manifest import DirtyKind

ONE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Plan:
    view_days: frozenset[date] = frozenset()  # views and every per-day video table
    pref_days: frozenset[date] = frozenset()  # user_prefs partitions
    local_days: frozenset[date] = frozenset()  # user_activity, user_daily
    weeks: frozenset[date] = frozenset()  # user_weekly (Mondays)
    months: frozenset[date] = frozenset()  # user_monthly (first days)
    course_progress: bool = False
    # the dirty marks this plan covers, to clear once it is committed
    covers: Mapping[DirtyKind, Mapping[str, int]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.view_days or self.pref_days or self.local_days or self.course_progress)


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def first_of_month(d: date) -> date:
    return d.replace(day=1)


def _days(keys: Iterable[str]) -> set[date]:
    return {date.fromisoformat(k) for k in keys}


def plan(
    marks: Mapping[DirtyKind, Mapping[str, int]],
    *,
    catalog_view_days: Iterable[date] = (),
    newest_local_day: date | None = None,
) -> Plan:
    """Turn dirty marks into the partitions to recompute.

    ``catalog_view_days`` are the days on which videos whose catalog entry changed were viewed
    (the caller finds them, as it needs data for that); ``newest_local_day`` bounds how far a
    preference change reaches (the newest local day any user table holds).
    """
    sessions = _days(marks.get(DirtyKind.SESSIONS, {}))
    view_events = _days(marks.get(DirtyKind.VIEW_EVENTS, {}))
    prefs = _days(marks.get(DirtyKind.PREFS, {}))
    view_days = sessions | {d - delta for d in view_events for delta in (ONE, 0 * ONE)}
    view_days |= set(catalog_view_days)

    local = {d + k * ONE for d in view_days for k in (-1, 0, 1)}
    horizon = max(
        [*local, *(p + ONE for p in prefs)] + ([newest_local_day] if newest_local_day else []),
        default=None,
    )
    for p in prefs:
        assert horizon is not None
        d = p - ONE
        while d <= horizon:
            local.add(d)
            d += ONE

    course = bool(marks.get(DirtyKind.MILESTONES)) or bool(marks.get(DirtyKind.CATALOG))
    return Plan(
        view_days=frozenset(view_days),
        pref_days=frozenset(prefs),
        local_days=frozenset(local),
        weeks=frozenset(monday(d) for d in local),
        months=frozenset(first_of_month(d) for d in local),
        course_progress=course,
        covers={k: dict(v) for k, v in marks.items() if v},
    )
