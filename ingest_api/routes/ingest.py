"""``POST /v1/events`` and ``POST /v1/catalog/videos``: validate, rate-limit, publish, answer."""

from __future__ import annotations

import math
import time

import orjson
from fastapi import APIRouter, Request, Response

from ingest_api.batches import Batch, catalog_batch, events_batch
from ingest_api.contract import (
    MAX_BODY_BYTES,
    TOPIC_CATALOG,
    TOPIC_PLAYER_EVENTS,
    ValidationContext,
)
from ingest_api.deps import Services
from ingest_api.errors import RequestRejected
from ingest_api.rate_limit import RateLimiter

router = APIRouter()


async def post_events(request: Request) -> Response:
    services: Services = request.app.state.services
    services.credentials.check_write(request.headers.get("authorization"))
    body = await read_body(request)
    ctx = ValidationContext(
        now=services.clock(),
        max_age=services.settings.late_limit,
        max_ahead=services.settings.max_ahead,
    )
    batch = events_batch(body, ctx)
    _charge(services.limiter, batch, services.monotonic(), "device_id")
    return await _publish(services, batch, TOPIC_PLAYER_EVENTS, "events")


async def post_catalog(request: Request) -> Response:
    services: Services = request.app.state.services
    authorization = request.headers.get("authorization")
    services.credentials.check_write(authorization)
    body = await read_body(request)
    batch = catalog_batch(body)
    # The catalog has no device: its budget is per write key.
    batch.devices = [authorization or ""] * len(batch.records)
    _charge(services.catalog_limiter, batch, services.monotonic(), "write key")
    return await _publish(services, batch, TOPIC_CATALOG, "catalog")


# Plain Starlette routes: the hottest path of the product skips FastAPI's dependency
# solving, which cost more per request than validating a small batch.
router.add_route("/v1/events", post_events, methods=["POST"])
router.add_route("/v1/catalog/videos", post_catalog, methods=["POST"])


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestRejected(
            413, f"body: {declared} bytes exceeds the {MAX_BODY_BYTES} byte limit"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestRejected(413, f"body: exceeds the {MAX_BODY_BYTES} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _charge(limiter: RateLimiter, batch: Batch, now: float, what: str) -> None:
    if not batch.records:
        return
    wait = limiter.take(((d, 1) for d in batch.devices), now)
    if wait > 0:
        if math.isinf(wait):
            raise RequestRejected(
                429, f"{what}: batch is larger than the burst of {limiter.burst:g} events", 60.0
            )
        raise RequestRejected(429, f"{what}: rate limit exceeded", wait)


async def _publish(services: Services, batch: Batch, topic: str, kind: str) -> Response:
    metrics = services.metrics
    if batch.records:
        started = time.perf_counter()
        await services.publisher.publish(topic, batch.records)
        metrics.produce_latency.observe(time.perf_counter() - started)
        metrics.accepted.labels(kind).inc(len(batch.records))
    if batch.rejected:
        metrics.rejected.labels(kind).inc(len(batch.rejected))
    if batch.duplicates:
        metrics.duplicates.inc(batch.duplicates)
    # A batch where nothing at all was valid is a client error; otherwise 200 with details.
    status = 422 if batch.rejected and not batch.records and not batch.duplicates else 200
    return Response(
        orjson.dumps(batch.response()), status_code=status, media_type="application/json"
    )
