"""``POST /v1/events`` and ``POST /v1/catalog/videos``: validate, rate-limit, publish, answer.

The hottest path of the product, so it is served as plain ASGI (``IngestRoutes``, installed as
a middleware by ``create_app``) rather than through FastAPI's router: routing, the Request and
Response objects and the exception middlewares cost more per request than validating a small
batch. What it answers is the same as any other route: JSON bodies, and errors mapped by
``ingest_api.errors.error_response``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from ingest_api.batches import Batch, catalog_batch, events_batch
from ingest_api.contract import (
    MAX_BODY_BYTES,
    TOPIC_CATALOG,
    TOPIC_PLAYER_EVENTS,
    ValidationContext,
)
from ingest_api.deps import Services
from ingest_api.errors import IngestError, RequestRejected, error_response
from ingest_api.rate_limit import RateLimiter

log = logging.getLogger(__name__)

ReadBody = Callable[[], Awaitable[bytes]]
Answer = tuple[int, dict[str, str], bytes]


async def post_events(services: Services, authorization: str | None, read: ReadBody) -> Answer:
    services.credentials.check_write(authorization)
    body = await read()
    ctx = ValidationContext(
        now=services.clock(),
        max_age=services.settings.late_limit,
        max_ahead=services.settings.max_ahead,
    )
    batch = events_batch(body, ctx)
    _charge(services.limiter, batch, services.monotonic(), "device_id")
    return await _publish(services, batch, TOPIC_PLAYER_EVENTS, "events")


async def post_catalog(services: Services, authorization: str | None, read: ReadBody) -> Answer:
    services.credentials.check_write(authorization)
    body = await read()
    batch = catalog_batch(body)
    # The catalog has no device: its budget is per write key.
    batch.devices = [authorization or ""] * len(batch.records)
    _charge(services.catalog_limiter, batch, services.monotonic(), "write key")
    return await _publish(services, batch, TOPIC_CATALOG, "catalog")


ROUTES = {"/v1/events": post_events, "/v1/catalog/videos": post_catalog}


class IngestRoutes:
    """Serves ``ROUTES`` straight from ASGI; passes every other request on to ``app``."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        scope["endpoint"] = handler  # the request counter labels it by path
        if scope["method"] != "POST":
            status, headers, body = 405, {"Allow": "POST"}, b'{"error":"method: use POST"}'
        else:
            authorization, declared = _headers(scope)
            try:
                status, headers, body = await handler(
                    self.services, authorization, lambda: read_body(receive, declared)
                )
            except IngestError as exc:
                status, headers, doc = error_response(exc)
                body = orjson.dumps(doc)
            except _Disconnected:
                return  # nobody to answer; nothing was published
        raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        raw.extend((k.lower().encode(), v.encode()) for k, v in headers.items())
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> tuple[str | None, int | None]:
    """The Authorization header and the declared Content-Length, if any."""
    authorization = declared = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"content-length" and value.isdigit():
            declared = int(value)
    return authorization, declared


class _Disconnected(Exception):
    """The client went away before its body arrived."""


async def read_body(receive: Receive, declared: int | None) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed the limit."""
    if declared is not None and declared > MAX_BODY_BYTES:
        raise RequestRejected(
            413, f"body: {declared} bytes exceeds the {MAX_BODY_BYTES} byte limit"
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestRejected(413, f"body: exceeds the {MAX_BODY_BYTES} byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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


async def _publish(services: Services, batch: Batch, topic: str, kind: str) -> Answer:
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
    return status, {}, orjson.dumps(batch.response())
