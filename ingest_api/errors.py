"""Errors of the ingest API.

IngestError                     base of everything this package raises on purpose
├── BrokerUnavailable           transient: Kafka did not acknowledge; answer 503, retry later
└── RequestRejected             terminal for this request: answer with its status and message
    ├── (400) malformed JSON
    ├── (401) missing or unknown key or token
    ├── (403) token not allowed to read this
    ├── (413) body too large
    ├── (422) body shape wrong
    └── (429) rate limited, with retry_after_s
"""

from __future__ import annotations

from typing import Any


class IngestError(Exception):
    """Base of the ingest API's own errors."""


class BrokerUnavailable(IngestError):
    """Kafka did not acknowledge in time; nothing of the request was acknowledged."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"Kafka is unavailable; retry in {retry_after_s:g} s")
        self.retry_after_s = retry_after_s


class RequestRejected(IngestError):
    """The whole request is refused with an HTTP status and a message naming the field."""

    def __init__(self, status: int, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


def error_response(exc: IngestError) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The status, headers and JSON body that answer ``exc``; one mapping for every route."""
    if isinstance(exc, BrokerUnavailable):
        doc = {"error": "kafka: unavailable, nothing was acknowledged; retry later"}
        return 503, {"Retry-After": retry_after(exc.retry_after_s)}, doc
    if isinstance(exc, RequestRejected):
        headers = {}
        if exc.retry_after_s is not None:
            headers["Retry-After"] = retry_after(exc.retry_after_s)
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return exc.status, headers, {"error": exc.message}
    return 500, {}, {"error": "internal error"}


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, rounded up, at least 1."""
    return str(max(1, int(seconds + 0.999)))
