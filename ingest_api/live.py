"""Reaching the stream workers, which own live watch state (SPEC §6 live reads).

The API holds no state of its own: a live read goes to any worker, and the worker answers
from its tables or forwards to the worker that owns the user's partition. ``LiveState`` is
the one-method interface routes depend on; ``WorkerClient`` is the HTTP implementation.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Protocol

import httpx

from ingest_api.errors import RequestRejected


class LiveState(Protocol):
    async def get(self, path: str, params: Mapping[str, str]) -> tuple[int, bytes]:
        """GET ``path`` from the workers; (status, JSON body)."""
        ...


class WorkerClient:
    """Round-robin over worker base URLs, trying the next one when a worker is unreachable."""

    def __init__(self, urls: Sequence[str], timeout_s: float = 2.0) -> None:
        self.urls = [u.rstrip("/") for u in urls if u.strip()]
        self._next = itertools.cycle(range(len(self.urls))) if self.urls else None
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, path: str, params: Mapping[str, str]) -> tuple[int, bytes]:
        if self._next is None:
            raise RequestRejected(503, "live state: no stream worker configured", 5.0)
        last: Exception | None = None
        for _ in range(len(self.urls)):
            base = self.urls[next(self._next)]
            try:
                resp = await self._client.get(base + path, params=dict(params))
            except httpx.HTTPError as exc:
                last = exc
                continue
            if resp.status_code in (502, 503, 504):
                # The owner is recovering or rebalancing; another worker may already know.
                last = RuntimeError(f"{base} answered {resp.status_code}")
                continue
            return resp.status_code, resp.content
        raise RequestRejected(503, f"live state: no stream worker answered ({last})", 1.0)
