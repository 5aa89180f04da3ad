"""Entrypoint of ``watchflow worker``: settings from the environment, topics checked, and the
Faust worker run in this process until SIGINT/SIGTERM stop it cleanly."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import faust

from streams.settings import WorkerSettings
from streams.topics import TopicMismatch, prepare_topics
from watchflow import logs

log = logging.getLogger("watchflow.worker")


class _Worker(faust.Worker):
    """Faust's worker with watchflow's JSON logs instead of its own console setup."""

    def __init__(self, *args: Any, log_level: str, **kwargs: Any) -> None:
        self._watchflow_level = log_level
        super().__init__(*args, **kwargs)

    def _setup_logging(self) -> None:
        # Faust would leave the root logger at DEBUG (~10 % of CPU per event in log records
        # built and dropped); ours sets every level explicitly.
        logs.configure(self._watchflow_level)


def run(settings: WorkerSettings) -> int:
    """Run one worker until a signal stops it; the process exit code."""
    logs.configure(settings.log_level)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(prepare_topics(settings.kafka_bootstrap, settings.partitions))
    except TopicMismatch as exc:
        log.error(str(exc))
        return 2
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    # The worker keeps many long-lived small objects (decoded open sessions, the catalog,
    # Faust's and aiokafka's own). What outlives a flush is frozen (streams.collector), so a
    # young collection scans only what changed since; 10,000 rather than 700 makes them rarer
    # still. The middle generation runs every 1000 of them instead of every 20: with the
    # default thresholds full scans paused the loop 100-230 ms every few seconds under load.
    gc.set_threshold(10_000, 1000, 100)
    import streams.model
    from streams.app import create_app

    worker = create_app(settings)
    log.info(
        "worker starting",
        extra={
            "app_id": settings.app_id,
            "url": settings.canonical_url,
            "state_dir": str(settings.state_dir),
            "partitions": settings.partitions,
            "model": streams.model.LOADED_AS,
        },
    )
    runner = _Worker(
        worker.app,
        loop=loop,
        loglevel=settings.log_level,
        log_level=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        workdir=str(settings.state_dir),
    )
    try:
        runner.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
