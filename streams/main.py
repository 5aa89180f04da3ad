"""Entrypoint of ``watchflow worker``: settings from the environment, topics checked, and the
Faust worker run in this process until SIGINT/SIGTERM stop it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from ingest_api.contract import (
    TOPIC_CATALOG,
    TOPIC_DEAD_LETTER,
    TOPIC_MILESTONES,
    TOPIC_PLAYER_EVENTS,
    TOPIC_SESSIONS,
)
from streams.settings import WorkerSettings
from watchflow import logs

log = logging.getLogger("watchflow.worker")


class TopicMismatch(Exception):
    """player-events does not have the partition count the worker was configured with."""

    def __init__(self, actual: int, configured: int) -> None:
        super().__init__(
            f"{TOPIC_PLAYER_EVENTS} has {actual} partitions but WATCHFLOW_PARTITIONS={configured}:"
            " a user's events, tables and changelogs must share partition numbers"
        )
        self.actual, self.configured = actual, configured


async def prepare_topics(bootstrap: str, partitions: int) -> None:
    """Create the pipeline's topics that are missing (auto-create is off on our brokers) and
    check that player-events has the configured partition count."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = {
            TOPIC_PLAYER_EVENTS: {},
            TOPIC_CATALOG: {"cleanup.policy": "compact"},  # latest entry per video is the catalog
            TOPIC_MILESTONES: {},
            TOPIC_SESSIONS: {},
            TOPIC_DEAD_LETTER: {},
        }
        missing = [
            NewTopic(name, partitions, 1, topic_configs=configs)
            for name, configs in wanted.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        described = await admin.describe_topics([TOPIC_PLAYER_EVENTS])
        actual = len(described[0]["partitions"])
        if actual != partitions:
            raise TopicMismatch(actual, partitions)
    finally:
        await admin.close()


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
    from streams.app import create_app

    worker = create_app(settings)
    log.info(
        "worker starting",
        extra={
            "app_id": settings.app_id,
            "url": settings.canonical_url,
            "state_dir": str(settings.state_dir),
            "partitions": settings.partitions,
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
