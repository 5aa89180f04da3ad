"""The worker's consumer asks the broker for fetches as its settings say."""

from __future__ import annotations

from pathlib import Path

from streams.app import create_app
from streams.settings import WorkerSettings


async def test_fetches_wait_for_the_bytes_and_time_the_settings_give(tmp_path: Path) -> None:
    settings = WorkerSettings(data_dir=tmp_path, fetch_max_wait_ms=7, fetch_min_bytes=65_536)
    app = create_app(settings).app
    thread = app.consumer._thread  # Faust's consumer thread, not started
    try:
        kafka = thread._create_worker_consumer(app.transport)  # what it would start
        try:
            assert (kafka._fetch_max_wait_ms, kafka._fetch_min_bytes) == (7, 65_536)
            assert kafka._max_partition_fetch_bytes == 4 * 1024**2  # Faust's setting holds
        finally:
            await kafka.stop()
    finally:
        thread.thread_loop.close()
