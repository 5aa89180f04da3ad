"""A real Apache Kafka broker for the integration tests: one per test session, on free ports in a
temporary directory, started and stopped by the same code as `watchflow kafka up` / `down`.

Set WATCHFLOW_TEST_KAFKA_BOOTSTRAP to run the tests against a broker that is already running,
and WATCHFLOW_KAFKA_CACHE to keep the broker's jars somewhere other than ~/.cache/watchflow.
Wired in by tests/conftest.py: ``pytest_plugins = ["tests.integration.kafka_fixture"]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from watchflow.local_kafka import LocalKafka, fetch_jars


def kafka_cache_dir() -> Path:
    """Where the tests find (or fetch once) the broker's jars."""
    default = Path.home() / ".cache" / "watchflow"
    return Path(os.environ.get("WATCHFLOW_KAFKA_CACHE") or default)


@contextmanager
def running_broker(data_dir: Path, libs: Path) -> Iterator[str]:
    """Yield the bootstrap address of a fresh broker in data_dir; stop it on exit. The broker
    shares the test run's process group, so a Ctrl-C that stops the run stops it too."""
    broker = LocalKafka(data_dir, libs, port=0, detach=False)
    bootstrap = broker.up()
    try:
        yield bootstrap
    finally:
        broker.down()


@pytest.fixture(scope="session")
def kafka_jars() -> Path:
    """The directory holding the broker's classpath (fetched from Maven Central once)."""
    return fetch_jars(kafka_cache_dir())


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of the session's broker; tests use fresh topic and group names."""
    existing = os.environ.get("WATCHFLOW_TEST_KAFKA_BOOTSTRAP")
    if existing:
        yield existing
        return
    libs = fetch_jars(kafka_cache_dir())
    with running_broker(tmp_path_factory.mktemp("kafka-session"), libs) as bootstrap:
        yield bootstrap
