"""What routes depend on, wired once in ``create_app`` and read through ``Annotated`` aliases."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from ingest_api.analytics import Analytics
from ingest_api.credentials import Credentials, Scope
from ingest_api.errors import RequestRejected
from ingest_api.live import LiveState
from ingest_api.metrics import ApiMetrics
from ingest_api.pipeline_stats import PipelineStats
from ingest_api.publisher import Publisher
from ingest_api.rate_limit import RateLimiter
from ingest_api.settings import ApiSettings


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: ApiSettings
    credentials: Credentials
    publisher: Publisher
    limiter: RateLimiter
    catalog_limiter: RateLimiter
    live: LiveState
    # None: no warehouse configured; the analytics routes answer 503.
    analytics: Analytics | None = None
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    # None: /metrics shows only this process's own counters.
    pipeline: PipelineStats | None = None
    clock: Callable[[], datetime] = _utc_now
    monotonic: Callable[[], float] = time.monotonic


async def _services(request: Request) -> Services:
    # async: FastAPI would run a plain def in a worker thread on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]


async def _scope(request: Request, services: ServicesDep) -> Scope:
    # async: a plain def dependency would cost a threadpool round trip of its own.
    return services.credentials.read_scope(request.headers.get("authorization"))


ScopeDep = Annotated[Scope, Depends(_scope)]


def require_user(scope: Scope, user_id: str) -> None:
    """403 unless the read token may see ``user_id``."""
    if not scope.may_read_user(user_id):
        raise RequestRejected(403, "authorization: this token may not read that user")
