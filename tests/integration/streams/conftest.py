"""The worker tests get a broker of their own.

A fresh worker group reads ``player-events`` from the beginning, so records other test
modules left on the shared broker would be read first and delay what these tests time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.kafka_fixture import running_broker


@pytest.fixture(scope="module")
def kafka_bootstrap(kafka_jars: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_broker(tmp_path_factory.mktemp("kafka-streams"), kafka_jars) as bootstrap:
        yield bootstrap
