"""Aggregated analytics (SPEC §6): user periods and dashboard, video analytics and retention,
creator dashboard, plus two analyst lists (top videos, active users) for dashboards' pickers.

Each route checks the read token's scope, validates the range, and asks ``services.analytics``.
A route's work runs on the event loop when it can be answered from memory (the warehouse
Reader's read index or result cache: a millisecond or two, and no thread hand-off), else in
the threadpool (``_answer``), so SQL over Parquet never blocks the event loop. A range
defaults to the last 30 days ending today (UTC; the user's local today for user routes) and
spans at most ``MAX_RANGE_DAYS``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from ingest_api.analytics import Analytics
from ingest_api.credentials import Scope
from ingest_api.deps import ScopeDep, Services, ServicesDep, require_user
from ingest_api.errors import RequestRejected
from warehouse.queries import Period
from warehouse.reader import NeedsSql, memory_only

router = APIRouter()

DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 400


From = Annotated[date | None, Query(alias="from", description="first day, ISO date")]
To = Annotated[date | None, Query(alias="to", description="last day (inclusive), ISO date")]
Limit = Annotated[int, Query(ge=1, le=100)]


def date_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """[from, to] with the defaults filled in; 422 if reversed or longer than allowed."""
    end = today if end is None else end
    start = end - timedelta(days=DEFAULT_RANGE_DAYS - 1) if start is None else start
    if start > end:
        raise RequestRejected(422, "from: must be on or before to")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise RequestRejected(422, f"to: a range spans at most {MAX_RANGE_DAYS} days")
    return start, end


def _json(doc: Any) -> Response:
    return Response(orjson.dumps(doc, default=_encode), media_type="application/json")


async def _answer(backend: Analytics, work: Callable[[], Any]) -> Response:
    """``work()`` as JSON: inline if the backend can tell reads that need no SQL (its
    ``inline_reads``) and this one does not, else (from scratch) in the threadpool."""
    if getattr(backend, "inline_reads", False):
        try:
            with memory_only():
                return _json(work())
        except NeedsSql:
            pass
    return _json(await run_in_threadpool(work))


def _encode(value: object) -> object:
    if isinstance(value, Decimal):  # the warehouse sums seconds as DECIMAL(18, 3)
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _backend(services: Services) -> Analytics:
    if services.analytics is None:
        raise RequestRejected(503, "analytics: no warehouse configured", 5.0)
    return services.analytics


def _utc_today(services: Services) -> date:
    return services.clock().date()


def _analyst(scope: Scope) -> None:
    if not scope.is_analyst:
        raise RequestRejected(403, "authorization: only an analyst token may list this")


def _video(scope: Scope, backend: Analytics, video_id: str) -> None:
    """Analysts read every video; a creator only the videos the catalog says are theirs."""
    if scope.is_analyst:
        return
    if scope.kind == "creator" and backend.video_creator(video_id) == scope.subject:
        return
    raise RequestRejected(403, "authorization: this token may not read that video")


async def _user_periods(
    period: Period,
    user_id: str,
    scope: Scope,
    services: Services,
    start: date | None,
    end: date | None,
) -> Response:
    """The rows of ``period`` over the range; it defaults to end on the user's local today."""
    require_user(scope, user_id)
    backend = _backend(services)

    def work() -> dict[str, Any]:
        today = backend.user_today(user_id, services.clock()) if end is None else end
        first, last = date_range(start, end, today)
        rows = backend.user_periods(user_id, period, first, last)
        return {"user_id": user_id, "period": period, "from": first, "to": last, "rows": rows}

    return await _answer(backend, work)


@router.get("/v1/users/{user_id}/analytics/daily")
async def user_daily(
    user_id: str, scope: ScopeDep, services: ServicesDep, start: From = None, end: To = None
) -> Response:
    """user_daily rows (local days in the user's time zone), oldest first."""
    return await _user_periods("daily", user_id, scope, services, start, end)


@router.get("/v1/users/{user_id}/analytics/weekly")
async def user_weekly(
    user_id: str, scope: ScopeDep, services: ServicesDep, start: From = None, end: To = None
) -> Response:
    """user_weekly rows of the ISO weeks overlapping the range, oldest first."""
    return await _user_periods("weekly", user_id, scope, services, start, end)


@router.get("/v1/users/{user_id}/analytics/monthly")
async def user_monthly(
    user_id: str, scope: ScopeDep, services: ServicesDep, start: From = None, end: To = None
) -> Response:
    """user_monthly rows of the months overlapping the range, oldest first."""
    return await _user_periods("monthly", user_id, scope, services, start, end)


@router.get("/v1/users/{user_id}/analytics/dashboard")
async def user_dashboard(user_id: str, scope: ScopeDep, services: ServicesDep) -> Response:
    """user_all_time (null if the user never watched) plus the last 7 local days."""
    require_user(scope, user_id)
    backend = _backend(services)
    return await _answer(backend, lambda: backend.user_dashboard(user_id, services.clock()))


@router.get("/v1/users")
async def active_users(
    scope: ScopeDep,
    services: ServicesDep,
    start: From = None,
    end: To = None,
    limit: Limit = 20,
) -> Response:
    """Extension for analysts: the users with the most watch time in the range."""
    _analyst(scope)
    start, end = date_range(start, end, _utc_today(services))
    backend = _backend(services)
    return await _answer(
        backend,
        lambda: {"from": start, "to": end, "users": backend.active_users(start, end, limit)},
    )


@router.get("/v1/videos/top")
async def top_videos(
    scope: ScopeDep,
    services: ServicesDep,
    start: From = None,
    end: To = None,
    limit: Limit = 10,
) -> Response:
    """Extension for analysts: the most viewed videos of the range (creators: see their
    dashboard's ``top_videos``)."""
    _analyst(scope)
    start, end = date_range(start, end, _utc_today(services))
    backend = _backend(services)
    return await _answer(
        backend, lambda: {"from": start, "to": end, "videos": backend.top_videos(start, end, limit)}
    )


@router.get("/v1/videos/{video_id}/analytics")
async def video_analytics(
    video_id: str, scope: ScopeDep, services: ServicesDep, start: From = None, end: To = None
) -> Response:
    """video_daily rows (UTC days with views), exact range totals, and the milestone funnel."""
    backend = _backend(services)
    start, end = date_range(start, end, _utc_today(services))

    def work() -> dict[str, Any]:
        _video(scope, backend, video_id)
        return backend.video_analytics(video_id, start, end)

    return await _answer(backend, work)


@router.get("/v1/videos/{video_id}/retention")
async def video_retention(video_id: str, scope: ScopeDep, services: ServicesDep) -> Response:
    """The all-time retention curve: 100 buckets, or none if the video has no views."""
    backend = _backend(services)

    def work() -> dict[str, Any]:
        _video(scope, backend, video_id)
        return {"video_id": video_id, "buckets": backend.video_retention(video_id)}

    return await _answer(backend, work)


@router.get("/v1/creators/{creator_id}/dashboard")
async def creator_dashboard(
    creator_id: str,
    scope: ScopeDep,
    services: ServicesDep,
    start: From = None,
    end: To = None,
    top: Limit = 10,
) -> Response:
    """Creator totals and daily rows over the range, top videos, and course progress."""
    if not scope.may_read_creator(creator_id):
        raise RequestRejected(403, "authorization: this token may not read that creator")
    start, end = date_range(start, end, _utc_today(services))
    backend = _backend(services)
    return await _answer(backend, lambda: backend.creator_dashboard(creator_id, start, end, top))
