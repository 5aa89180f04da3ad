"""A lean HTTP/1.1 keep-alive load generator on asyncio protocols.

Python HTTP clients (httpx, aiohttp) cost more per request than the server under test, so this
one sends pre-serialised request bytes and reads only the status line, ``Content-Length`` and
the body. One request is in flight per connection (no pipelining).

Two modes:

- ``closed_loop``: every connection sends its next request as soon as the previous one is
  answered, for a fixed time: the maximum rate.
- ``open_loop``: requests are due at a constant rate whether or not earlier ones have been
  answered; a due request waits for a free connection, and its latency counts from the time it
  was due, so a slow server cannot hide its queueing (no coordinated omission).

Every response must pass ``check(status, body)``; ``LoadResult.failures`` counts the others.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

MakeRequest = Callable[[], bytes]
Check = Callable[[int, bytes], bool]


class LoadError(Exception):
    """The target refused or dropped a connection, or never answered."""


@dataclass
class LoadResult:
    seconds: float  # length of the measuring window
    requests: int = 0  # answered within the window
    latencies_s: list[float] = field(default_factory=list)
    send_lag_s: list[float] = field(default_factory=list)  # open loop: sent later than due
    failures: int = 0
    first_failure: str | None = None
    max_backlog: int = 0  # open loop: most requests ever waiting for a free connection

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float, values: list[float] | None = None) -> float:
        """The q-th percentile (0-100, nearest rank) of latencies, in seconds."""
        data = sorted(self.latencies_s if values is None else values)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, max(0, round(q / 100 * len(data)) - 1))]


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.body_at = -1  # where the body starts once the head is parsed
        self.body_end = 0
        self.status = 0
        self.due = 0.0  # when the request in flight was due (closed loop: when it was sent)
        self.in_flight = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def send(self, request: bytes, due: float) -> None:
        self.due = due
        self.in_flight = True
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            if self.body_at < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end]).lower()
                self.status = int(head[9:12])
                at = head.find(b"\r\ncontent-length:")
                if at < 0:
                    raise LoadError(f"response without Content-Length: {head[:200]!r}")
                stop = head.find(b"\r\n", at + 17)
                self.body_at = end + 4
                self.body_end = self.body_at + int(head[at + 17 : stop if stop >= 0 else None])
            if len(buf) < self.body_end:
                return
            body = bytes(buf[self.body_at : self.body_end])
            del buf[: self.body_end]
            self.body_at = -1
            self.in_flight = False
            self.run.answered(self, self.status, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.lost(self, exc)


class _Run:
    """One measurement: the connections, the window and what was answered in it."""

    def __init__(self, make: MakeRequest, check: Check, start: float, seconds: float) -> None:
        self.make, self.check = make, check
        self.start, self.end = start, start + seconds
        self.result = LoadResult(seconds)
        self.busy = 0
        self.stopping = False
        # Oldest first, so every connection is used: uvicorn closes one idle for 5 s.
        self.idle: collections.deque[_Connection] = collections.deque()
        self.pending: collections.deque[float] = collections.deque()
        self.closed_loop = True
        self.drained = asyncio.get_running_loop().create_future()
        self.error: LoadError | None = None

    def send(self, conn: _Connection, due: float) -> None:
        self.busy += 1
        conn.send(self.make(), due)

    def answered(self, conn: _Connection, status: int, body: bytes) -> None:
        now = time.perf_counter()
        self.busy -= 1
        result = self.result
        if status != 200 or not self.check(status, body):
            result.failures += 1
            if result.first_failure is None:
                result.first_failure = f"HTTP {status}: {body[:300]!r}"
        if not self.closed_loop or (self.start <= conn.due and now <= self.end):
            result.requests += 1
            result.latencies_s.append(now - conn.due)
        if self.closed_loop:
            if now < self.end and not self.stopping:
                self.send(conn, now)
        elif self.pending:
            self.send(conn, self.pending.popleft())
        else:
            self.idle.append(conn)
        if self.busy == 0 and self.stopping and not self.drained.done():
            self.drained.set_result(None)

    def lost(self, conn: _Connection, exc: Exception | None) -> None:
        if conn in self.idle:
            self.idle.remove(conn)  # closed by the server while idle: keep-alive timeout
        if conn.in_flight:
            self.error = LoadError(f"connection lost with a request in flight: {exc!r}")
            if not self.drained.done():
                self.drained.set_result(None)

    def dispatch(self, due: float) -> None:
        if self.idle:
            conn = self.idle.popleft()
            self.result.send_lag_s.append(time.perf_counter() - due)
            self.send(conn, due)
        else:
            self.pending.append(due)
            self.result.max_backlog = max(self.result.max_backlog, len(self.pending))


async def _open(host: str, port: int, run: _Run, n: int) -> list[_Connection]:
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(n):
        transport, proto = await loop.create_connection(lambda: _Connection(run), host, port)
        proto.transport = transport  # uvloop may call connection_made only later
        conns.append(proto)
    return conns


async def _finish(run: _Run, conns: list[_Connection], timeout_s: float) -> LoadResult:
    run.stopping = True
    if run.busy == 0 and not run.drained.done():
        run.drained.set_result(None)
    try:
        await asyncio.wait_for(asyncio.shield(run.drained), timeout_s)
    except TimeoutError:
        run.error = run.error or LoadError(f"{run.busy} requests unanswered after {timeout_s} s")
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    if run.error is not None:
        raise run.error
    return run.result


async def closed_loop(
    host: str, port: int, make: MakeRequest, check: Check, *, connections: int, seconds: float
) -> LoadResult:
    """The rate at which ``connections`` clients, each waiting for its answer, are served."""
    run = _Run(make, check, 0.0, seconds)
    conns = await _open(host, port, run, connections)
    run.start = time.perf_counter()
    run.end = run.start + seconds
    for conn in conns:
        run.send(conn, run.start)
    await asyncio.sleep(seconds)
    return await _finish(run, conns, timeout_s=30.0)


async def open_loop(
    host: str,
    port: int,
    make: MakeRequest,
    check: Check,
    *,
    connections: int,
    seconds: float,
    rate: float,
) -> LoadResult:
    """Latencies of requests due at ``rate`` per second, counted from when each was due."""
    run = _Run(make, check, 0.0, seconds)
    run.closed_loop = False
    conns = await _open(host, port, run, connections)
    run.idle.extend(conns)
    interval, total = 1.0 / rate, int(rate * seconds)
    start = run.start = time.perf_counter()
    run.end = start + seconds
    sent = 0
    while sent < total and run.error is None:
        due_now = min(total, int((time.perf_counter() - start) / interval) + 1)
        while sent < due_now:
            run.dispatch(start + sent * interval)
            sent += 1
        # Event-loop timers tick in milliseconds; the lag this adds is in send_lag_s.
        await asyncio.sleep(max(0.001, start + sent * interval - time.perf_counter()))
    return await _finish(run, conns, timeout_s=30.0)
