"""Liveness, readiness (Kafka reachable) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingest_api.deps import ServicesDep

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> Response:
    if services.publisher.available:
        return Response(b'{"status":"ready","kafka":"reachable"}', media_type="application/json")
    return Response(
        b'{"status":"not ready","kafka":"unreachable"}',
        status_code=503,
        media_type="application/json",
        headers={"Retry-After": "1"},
    )


@router.get("/metrics")
async def metrics(services: ServicesDep) -> Response:
    services.metrics.kafka_available.set(1 if services.publisher.available else 0)
    if services.pipeline is not None and services.publisher.available:
        await services.pipeline.refresh()
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
