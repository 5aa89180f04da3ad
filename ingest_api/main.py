"""Entrypoint of ``watchflow api``: settings from the environment, wired into an app."""

from __future__ import annotations

import gc
import logging

from fastapi import FastAPI

from ingest_api.analytics import WarehouseAnalytics
from ingest_api.app import create_app
from ingest_api.contract import pipeline_topics
from ingest_api.credentials import (
    Credentials,
    development_credentials,
    parse_read_tokens,
    parse_scope,
)
from ingest_api.deps import Services
from ingest_api.live import WorkerClient
from ingest_api.metrics import ApiMetrics
from ingest_api.pipeline_stats import PipelineStats
from ingest_api.publisher import KafkaPublisher
from ingest_api.rate_limit import RateLimiter
from ingest_api.settings import ApiSettings

log = logging.getLogger("watchflow.api")


def credentials_from(settings: ApiSettings) -> Credentials:
    """The configured keys, or development ones (logged so a developer can use them)."""
    write_keys = settings.write_key_set()
    read_tokens = parse_read_tokens(settings.read_tokens)
    if not write_keys or not read_tokens:
        dev_write, dev_read = development_credentials(settings.data_dir)
        if not write_keys:
            write_keys = frozenset({dev_write})
            log.warning("WATCHFLOW_WRITE_KEYS unset; development write key: %s", dev_write)
        if not read_tokens:
            read_tokens = {dev_read: parse_scope("analyst")}
            log.warning("WATCHFLOW_READ_TOKENS unset; development analyst token: %s", dev_read)
    return Credentials(write_keys=write_keys, read_tokens=read_tokens)


def build_app(settings: ApiSettings) -> FastAPI:
    publisher = KafkaPublisher(
        settings.kafka_bootstrap,
        topics=pipeline_topics(settings.partitions),
        produce_timeout_s=settings.produce_timeout_s,
    )
    metrics = ApiMetrics()
    pipeline = PipelineStats(
        settings.kafka_bootstrap,
        topics=list(pipeline_topics(settings.partitions)),
        groups=settings.lag_group_list(),
        registry=metrics.registry,
    )
    services = Services(
        settings=settings,
        credentials=credentials_from(settings),
        publisher=publisher,
        limiter=RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
        catalog_limiter=RateLimiter(settings.rate_limit_per_s * 10, settings.rate_limit_burst * 10),
        live=WorkerClient(settings.worker_url_list()),
        analytics=WarehouseAnalytics(settings.data_dir),
        metrics=metrics,
        pipeline=pipeline,
    )
    return create_app(services)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (one per worker process)."""
    app = build_app(ApiSettings())
    tune_gc()
    return app


def tune_gc() -> None:
    """Keep the garbage collector off the request path as far as it is safe to.

    A request of 100 events makes ~1,000 short-lived containers, so the default threshold
    (700) ran a young collection about once a request, and each collection that reached the
    oldest generation walked every object the process had: the imported framework, schemas
    and settings, hundreds of thousands of objects that never die. Freezing them after
    start-up takes them out of every collection; a higher first threshold makes the young
    collections rarer (the batch's objects are freed by reference counting long before).
    Reference cycles are still collected, just in larger steps."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
