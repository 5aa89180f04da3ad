"""The one place the worker is wired: settings in, a Faust app with everything on it out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import faust

from streams import agents, bulk, catalog_feed, reads, tables
from streams.model.catalog import Catalog
from streams.model.rules import Rules
from streams.processor import Processor
from streams.settings import WorkerSettings


@dataclass(frozen=True)
class Worker:
    app: faust.App
    processor: Processor
    tables: tables.Tables


def create_faust_app(settings: WorkerSettings) -> faust.App:
    """The bare Faust app: connection, storage and web settings, nothing defined on it yet."""
    return faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="rocksdb://",
        datadir=str(settings.state_dir),
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        table_standby_replicas=settings.standby_replicas,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval_s,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        # Records per fetch handed to the batch path (streams.bulk): fewer hand-offs from the
        # consumer thread; folding still yields to the loop every agents.CHUNK events.
        broker_max_poll_records=2000,
        # aiokafka fetches a partition again only once all it fetched of it was handed over, so
        # at Faust's 1 MiB (~2,500 events) the fold caught up with the fetches and the loop
        # waited for the next one ~15 % of the time while catching up. At 4 MiB: 26-29k events/s
        # at 0.96 of a core against 20.6k at 0.82-0.89 (docs/stream-worker.md).
        consumer_max_fetch_size=4 * 1024**2,
        producer_linger=0.005,
        # A flush sends each changelog partition's records as one batch (streams.bulk); at the
        # default 16 KiB a flush of a few thousand states took one broker round trip per 40.
        producer_max_batch_size=512 * 1024,
        web_enabled=True,
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        web_bind=settings.worker_web_host,
        canonical_url=settings.canonical_url,
        # /table/{name}/{key}/ would expose raw state without scoping; reads go through ours.
        web_tables_enabled=False,
    )


def create_app(settings: WorkerSettings) -> Worker:
    """The worker's Faust app with its tables, agent, idle sweep, catalog and live reads."""
    app = create_faust_app(settings)
    t = tables.define(app, settings.partitions)
    catalog = Catalog()
    stores = agents.write_back(t)
    proc = Processor(
        stores[t.videos.name],
        stores[t.users.name],
        stores[t.history.name],
        catalog,
        Rules(idle_timeout_s=settings.idle_timeout_s),
        settings.partitions,
        settings.history_size,
    )
    ready = asyncio.Event()
    fetch = bulk.FetchLimits(settings.fetch_max_wait_ms, settings.fetch_min_bytes)
    agents.install(
        app, proc, t, stores, ready, settings.idle_sweep_s, settings.flush_interval_s, fetch
    )
    reads.install(app, proc, t.users)

    @app.task  # type: ignore[untyped-decorator]
    async def follow_catalog() -> None:
        await catalog_feed.follow(settings.kafka_bootstrap, catalog, ready)

    return Worker(app, proc, t)
