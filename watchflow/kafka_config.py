"""What the local Kafka broker is given to run: its ``server.properties`` (a combined broker and
controller with a one-voter quorum), a fresh cluster id, and the JVM options it runs with.

Pure apart from reading the files packaged in ``watchflow/kafka/`` (``packaged``): nothing here
starts a process or writes a file.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

# Measured on 2 cores: C1 only (TieredStopAtLevel=1) starts the broker ~0.4 s sooner with ~35 MB
# less RSS, and the Python clients, not the broker, bound local throughput. SerialGC is the
# leanest collector for a 512 MiB heap; Kafka's script defaults (1 GiB, G1) suit servers.
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


def new_cluster_id() -> str:
    """A random cluster id in Kafka's Uuid text form: 22 URL-safe base64 characters.

    Never one starting with "-", which StorageTool would read as an option (Kafka's own
    Uuid.randomUuid() redraws those too).
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def server_properties(
    host: str, port: int, controller_port: int, log_dir: Path, overrides: Mapping[str, str] = {}
) -> str:
    """The server.properties text of a combined broker+controller with a one-voter quorum;
    overrides come last, so they win (java.util.Properties keeps the last value of a key)."""
    if "," in str(log_dir):
        raise ValueError(f"Kafka's log.dirs cannot hold a path with a comma: {log_dir}")
    text = packaged("server.properties.template").format(
        host=host, port=port, controller_port=controller_port, log_dir=_escape(str(log_dir))
    )
    return text + "".join(f"{_escape(k)}={_escape(v)}\n" for k, v in overrides.items())


def _escape(text: str) -> str:
    # Kafka loads .properties as ISO-8859-1 with backslash escapes: write ASCII only.
    def char(c: str) -> str:
        if " " <= c <= "~":
            return c
        units = c.encode("utf-16-be").hex()
        return "".join(f"\\u{units[i : i + 4]}" for i in range(0, len(units), 4))

    return "".join(map(char, text.replace("\\", "\\\\")))


def packaged(name: str) -> str:
    """The text of a file shipped in ``watchflow/kafka/`` (templates, log4j2, the POM)."""
    return resources.files("watchflow").joinpath("kafka", name).read_text()
