"""The HTTP application: ``create_app(services)`` wires routes, errors and the broker lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest_api.deps import Services
from ingest_api.errors import IngestError, error_response
from ingest_api.metrics import ApiMetrics
from ingest_api.routes import analytics, dashboard, health, ingest, live


def create_app(services: Services, extra_routers: tuple[Any, ...] = ()) -> FastAPI:
    """An app serving ``services``; the publisher is started and stopped with the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start = getattr(services.publisher, "start", None)
        stop = getattr(services.publisher, "stop", None)
        close_live = getattr(services.live, "aclose", None)
        # One warehouse Reader per process, opened here (not at import or build time).
        open_analytics = getattr(services.analytics, "open", None)
        close_analytics = getattr(services.analytics, "close", None)
        if start is not None:
            await start()
        if open_analytics is not None:
            open_analytics()
        try:
            yield
        finally:
            if close_analytics is not None:
                close_analytics()
            if stop is not None:
                await stop()
            if close_live is not None:
                await close_live()
            if services.pipeline is not None:
                await services.pipeline.close()

    app = FastAPI(
        title="watchflow",
        version="0.1.0",
        lifespan=lifespan,
        # Built-in telemetry re-reads its settings on every request; /metrics is ours.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    app.include_router(health.router)
    app.include_router(live.router)
    app.include_router(analytics.router)
    app.include_router(dashboard.router)
    for router in extra_routers:
        app.include_router(router)

    @app.exception_handler(IngestError)
    async def ingest_error(request: Request, exc: IngestError) -> Response:
        status, headers, doc = error_response(exc)
        return _json(doc, status, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']}" for err in exc.errors()
        ]
        return _json({"error": "; ".join(problems)}, 422, {})

    # Outermost last: requests are counted, then the ingest paths served as plain ASGI.
    app.add_middleware(ingest.IngestRoutes, services=services)
    app.add_middleware(_CountRequests, metrics=services.metrics)
    return app


def _json(doc: dict[str, Any], status: int, headers: dict[str, str]) -> Response:
    return Response(
        orjson.dumps(doc), status_code=status, media_type="application/json", headers=headers
    )


class _CountRequests:
    """Counts responses by route template and status; pure ASGI, so it adds almost nothing."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None)
            if path is None:
                # Plain Starlette routes (the ingest endpoints) set no "route"; they have no
                # path parameters, so the path itself is the template.
                path = scope["path"] if "endpoint" in scope else "unmatched"
            self.metrics.requests.labels(path, str(status)).inc()
