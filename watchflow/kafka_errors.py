"""What can go wrong fetching, starting or stopping the local Kafka broker.

Errors::

    LocalKafkaError
    ├── JavaUnavailableError   no java on PATH, or older than 17
    ├── JarFetchError          mvn missing or failed (.output_tail)
    ├── PortInUseError         the broker's port is taken (.host, .port)
    └── BrokerStartError       format or start failed (.errors, .log_tail)

``log_tail`` and ``error_lines`` pick what a reader needs from a long Maven or broker log.
"""

from __future__ import annotations

import re

LOG_TAIL_LINES = 40


class LocalKafkaError(Exception):
    """Base of every error raised while fetching, starting or stopping the local broker."""


class JavaUnavailableError(LocalKafkaError):
    """No usable Java runtime (Kafka 4 brokers need Java 17 or newer)."""


class JarFetchError(LocalKafkaError):
    def __init__(self, message: str, output_tail: str = "") -> None:
        super().__init__(f"{message}\n{output_tail}".rstrip())
        self.output_tail = output_tail


class PortInUseError(LocalKafkaError):
    def __init__(self, host: str, port: int, kafka_answers: bool = False) -> None:
        who = "a Kafka broker (started from another data dir?)" if kafka_answers else "a process"
        super().__init__(
            f"{host}:{port} is already in use by {who}; stop it, or choose another port "
            "for the local Kafka broker"
        )
        self.host, self.port, self.kafka_answers = host, port, kafka_answers


class BrokerStartError(LocalKafkaError):
    def __init__(self, reason: str, output: str, source: str) -> None:
        # A failed start logs its cause and then a long shutdown: the tail alone buries it.
        self.errors, self.log_tail = error_lines(output), log_tail(output)
        errors = f"--- errors in {source} ---\n{self.errors}\n" if self.errors else ""
        super().__init__(f"{reason}\n{errors}--- last lines of {source} ---\n{self.log_tail}")


def log_tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log, without terminal colour codes."""
    return "\n".join(re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()[-lines:])


def error_lines(log: str, limit: int = 12) -> str:
    """ERROR/FATAL lines of a Kafka log, each with its exception and 'Caused by' lines,
    without repeats (Kafka logs one cause at every layer it passes through)."""
    picked: dict[str, None] = {}
    after_error = False
    for line in log.splitlines():
        if re.match(r"\[[^]]*\] (ERROR|FATAL) ", line):
            picked[line.split("] ", 1)[1]] = None
            after_error = True
        elif line.startswith("Caused by: ") or (after_error and not line.startswith(("\t", "["))):
            picked[line] = None
        elif not line.startswith("\t"):
            after_error = False
    return "\n".join(list(picked)[:limit])
