"""What the local Kafka broker needs from the machine, and how we ask: Java 17 or newer, free
ports, an exclusive file lock so two `watchflow kafka up` runs cannot race, and whether an
address answers Kafka metadata requests (asked from sync code, inside an event loop or not).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import re
import socket
import subprocess
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from watchflow.kafka_errors import JavaUnavailableError


def java_major_version(version_output: str) -> int | None:
    """The major version from ``java -version`` output ('1.8.0_292' is 8, '17.0.15' is 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_java(java: str = "java") -> None:
    """Raise JavaUnavailableError unless ``java`` runs and is version 17 or newer."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise JavaUnavailableError(
            f"'{java}' not found: the local Kafka broker needs Java 17+ "
            "(e.g. apt-get install openjdk-17-jre-headless)"
        ) from None
    major = java_major_version(done.stderr + done.stdout)
    if major is None or major < 17:
        raise JavaUnavailableError(f"the local Kafka broker needs Java 17+, found: {done.stderr}")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on host that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Whether a listener could bind host:port (SO_REUSEADDR, as the JVM binds)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock so two `watchflow kafka up` runs cannot race each other."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def answers_metadata(bootstrap: str, timeout_ms: int = 5000) -> bool:
    """Whether a Metadata request to bootstrap lists at least one broker."""
    return _run(_answers_metadata(bootstrap, timeout_ms))


async def _answers_metadata(bootstrap: str, timeout_ms: int) -> bool:
    host, _, port = bootstrap.rpartition(":")
    try:  # plain TCP first: aiokafka logs an error for every refused connection
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    await writer.wait_closed()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster["brokers"])
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()


def _run(coro: Coroutine[Any, Any, bool]) -> bool:
    """Run coro to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
