"""The worker benchmark's latency probe: events paced at a given rate, each probe timed from
its Kafka acknowledgement to when its state is *visible* and when it is *durable*.

- **visible**: a few probes per second (``visible_per_s``) are polled for through the real
  live read of SPEC §6, ``GET /v1/users/{user}/videos/{video}`` on a running ``watchflow
  api`` (analyst token), which forwards to the worker owning the user; the worker answers
  from the same write-back caches its batches fold into. Visible = the first answer whose
  ``last_watched_at`` has reached the event's ``ts``, timed when the answer arrives (and,
  as a lower bound, when that read was sent: its round trip through the API lies between).
  A probe polls every ``POLL_S`` for its first second, then every ``SLOW_POLL_S``: a few
  dozen reads a second while the worker keeps up (``reads`` in the result).
- **durable**: every ``probe_every``-th playback event is timed to the first record on the
  worker's ``videos`` changelog whose state (``codec.decode_video``) has its last playback at
  or after the event's ``ts``; the worker writes RocksDB before sending it, and acknowledges
  the source offset only once the flush is done. Passive: it costs the worker nothing.

The events go to Kafka through the API's own publisher (``ingest_api.publisher``: acks=all,
idempotent, the records of concurrent requests sharing one open batch per partition): the
events due in each millisecond are published together, as the requests of that millisecond
would be, and a probe's ack is the publish returning, which is when the API acknowledges.
The ingest HTTP hop is not included. Latencies in ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.processes import api_server, cpu_seconds, runqueue_seconds
from bench.worker_events import Events
from ingest_api.contract import TOPIC_PLAYER_EVENTS
from ingest_api.publisher import KafkaPublisher
from watchflow.local_kafka import free_port

HOST = "127.0.0.1"
POLL_S = 0.005
SLOW_POLL_S = 0.05
GIVE_UP_S = 30.0
PACE_S = 0.001  # events due within this are sent at once: the sender sleeps once per ms at most


class _Probe:
    __slots__ = ("acked", "asked", "seen", "ts_ms")

    def __init__(self, ts_ms: int) -> None:
        self.ts_ms = ts_ms
        self.acked: float | None = None
        self.seen: float | None = None
        self.asked: float | None = None  # when the read that showed it was sent

    def latency_ms(self, asked: bool = False) -> float:
        seen = self.asked if asked else self.seen
        if seen is None or self.acked is None:
            return float("inf")
        return max(0.0, seen - self.acked) * 1000


@dataclass(frozen=True)
class Reader:
    """Where the live reads are: the API's base URL and a read token that may read anyone."""

    base_url: str
    token: str


def _quantile(xs: list[float], f: float) -> float:
    return xs[min(len(xs) - 1, int(f * len(xs)))] if xs else 0.0


def _figures(probes: list[_Probe]) -> dict[str, Any]:
    lat = sorted(pr.latency_ms() for pr in probes)
    return {
        "probes": len(lat),
        "unseen_after_30s": sum(1 for x in lat if x == float("inf")),
        "p50_ms": _quantile(lat, 0.5),
        "p99_ms": _quantile(lat, 0.99),
        "max_ms": lat[-1] if lat else 0.0,
    }


async def _follow_changelog(
    c: AIOKafkaConsumer, pending: dict[bytes, list[_Probe]], stop: asyncio.Event
) -> None:
    from streams.model import codec, video_state

    while not stop.is_set():
        for msgs in (await c.getmany(timeout_ms=100, max_records=2000)).values():
            now = time.perf_counter()
            for m in msgs:
                key = m.key or b""
                waiting = pending.get(key)
                if not waiting or m.value is None:
                    continue
                last = video_state.last_ms(codec.decode_video(m.value))
                for pr in waiting:
                    if pr.seen is None and last >= pr.ts_ms:
                        pr.seen = now
                # seen probes go: this loop shares the sender's core, and decoding every
                # state of every key ever probed made the sends late
                left = [pr for pr in waiting if pr.seen is None]
                if left:
                    pending[key] = left
                else:
                    del pending[key]


async def _poll_visible(
    client: httpx.AsyncClient, url: str, pr: _Probe, acked: asyncio.Future[Any], reads: list[float]
) -> None:
    """Poll the live read until it shows the probe's event (``last_watched_at`` >= its ts)."""
    with contextlib.suppress(Exception):
        await acked
    if pr.acked is None:
        return
    while (now := time.perf_counter()) - pr.acked < GIVE_UP_S:
        t0 = now
        try:
            resp = await client.get(url)
        except httpx.HTTPError:
            resp = None
        t1 = time.perf_counter()
        reads.append((t1 - t0) * 1000)
        if resp is not None and resp.status_code == 200:
            at = resp.json().get("last_watched_at")
            if at is not None and datetime.fromisoformat(at).timestamp() * 1000 >= pr.ts_ms:
                pr.seen, pr.asked = t1, t0
                return
        await asyncio.sleep(POLL_S if t1 - pr.acked < 1.0 else SLOW_POLL_S)


def _settles(fut: asyncio.Future[None]) -> Callable[[asyncio.Task[None]], None]:
    """A done-callback that settles ``fut`` as the publish task ended."""

    def done(task: asyncio.Task[None]) -> None:
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(None)

    return done


def _stamps(pr: _Probe) -> Callable[[asyncio.Future[None]], None]:
    """A done-callback noting when the probe's event was acknowledged."""

    def done(_: asyncio.Future[None]) -> None:
        pr.acked = time.perf_counter()

    return done


async def paced_latency(
    bootstrap: str,
    changelog: str,
    partitions: int,
    ev: Events,
    rate: float,
    probe_every: int,
    reader: Reader | None = None,
    visible_per_s: float = 5.0,
    pid: int | None = None,
) -> dict[str, Any]:
    """Send ``ev`` at ``rate`` events/s and time the probes (module doc): ``durable`` figures
    always, ``visible`` ones when a ``reader`` is given; with the worker's ``pid``, the share
    of a core it used while the events were sent, and how long it waited for one."""
    from streams.tables import video_key

    # This process paces the events and times the reads: its own collector's pauses (a full
    # scan of the 200k events ready to send) would show as the worker's latency and as late
    # sends. What exists now is left out of its collections for the window.
    gc.collect()
    gc.freeze()
    pending: dict[bytes, list[_Probe]] = {}
    durable: list[_Probe] = []
    visible: list[_Probe] = []
    pollers: list[asyncio.Task[None]] = []
    read_ms: list[float] = []
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    tps = [TopicPartition(changelog, p) for p in range(partitions)]
    c.assign(tps)
    await c.seek_to_end(*tps)
    stop = asyncio.Event()
    headers = {"Authorization": f"Bearer {reader.token}"} if reader else {}
    client = httpx.AsyncClient(timeout=5, headers=headers)
    p = KafkaPublisher(bootstrap, topics={TOPIC_PLAYER_EVENTS: partitions})
    await p.start()
    while not p.available:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    follower = asyncio.create_task(_follow_changelog(c, pending, stop))
    late_sends: list[float] = []
    publishing: list[asyncio.Task[None]] = []
    tick: list[tuple[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()  # the current tick's acknowledgement

    def publish() -> None:
        # the events due so far go out as one publish, as the API's concurrent requests share
        # its batches; the tick's future resolves with it
        task = asyncio.create_task(p.publish(TOPIC_PLAYER_EVENTS, tick))
        task.add_done_callback(_settles(fut))
        publishing.append(task)

    cpu0 = (cpu_seconds(pid), runqueue_seconds(pid)) if pid else (0.0, 0.0)
    t0 = time.perf_counter()
    next_visible = t0
    k = 0
    for i, (key, value) in enumerate(zip(ev.keys, ev.values, strict=True)):
        due = t0 + i / rate
        now = time.perf_counter()
        if due > now + PACE_S:
            if tick:
                publish()
                tick, fut = [], loop.create_future()
            await asyncio.sleep(due - now)
        elif due < now - PACE_S:
            late_sends.append((now - due) * 1000)
        tick.append((key, value))
        target = ev.probes[i]
        if target is None:
            continue
        user, video, ts_ms = target
        k += 1
        if k % probe_every == 0:
            pr = _Probe(ts_ms)
            durable.append(pr)
            pending.setdefault(video_key(user, video), []).append(pr)
            fut.add_done_callback(_stamps(pr))
        if reader is not None and now >= next_visible:
            next_visible = now + 1 / visible_per_s
            vp = _Probe(ts_ms)
            visible.append(vp)
            fut.add_done_callback(_stamps(vp))
            url = (
                f"{reader.base_url}/v1/users/{quote(user, safe='')}/videos/{quote(video, safe='')}"
            )
            pollers.append(asyncio.create_task(_poll_visible(client, url, vp, fut, read_ms)))
    if tick:
        publish()
    sent_s = time.perf_counter() - t0
    cpu1 = (cpu_seconds(pid), runqueue_seconds(pid)) if pid else (0.0, 0.0)
    await asyncio.gather(*publishing)
    deadline = time.perf_counter() + GIVE_UP_S
    while time.perf_counter() < deadline and any(pr.seen is None for pr in durable):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    await asyncio.gather(*pollers)
    stop.set()
    await follower
    gc.unfreeze()
    await p.stop()
    await client.aclose()
    with contextlib.suppress(asyncio.CancelledError):
        await c.stop()
    late_sends.sort()
    read_ms.sort()
    out: dict[str, Any] = {
        "rate": rate,
        "achieved_rate": len(ev.values) / sent_s,
        "seconds": sent_s,
        "send_lag_p99_ms": _quantile(late_sends, 0.99),
        "worker_cpu": (cpu1[0] - cpu0[0]) / sent_s,
        "worker_cpu_wait": (cpu1[1] - cpu0[1]) / sent_s,
        "durable": _figures(durable),
    }
    if reader is not None:
        asked = sorted(pr.latency_ms(asked=True) for pr in visible)
        out["visible"] = {
            **_figures(visible),
            # The state was there when the worker answered: between the read that showed it
            # being sent (this) and its answer arriving (p50_ms, p99_ms).
            "asked_p50_ms": _quantile(asked, 0.5),
            "asked_p99_ms": _quantile(asked, 0.99),
            "reads": len(read_ms),
            "read_p50_ms": _quantile(read_ms, 0.5),
            "read_p99_ms": _quantile(read_ms, 0.99),
        }
    return out


def measure(
    bootstrap: str,
    api_dir: Path,
    worker_port: int,
    changelog: str,
    partitions: int,
    ev: Events,
    rate: float,
    pid: int,
    probe_every: int,
    visible_per_s: float,
) -> dict[str, Any]:
    """``paced_latency`` with a ``watchflow api`` in front of the worker for the visible
    probes (on this process's core: it inherits the pinning), then the worker's own timings
    of the window (``/stats/hot-path``) under ``worker``."""
    api_port, token = free_port(HOST), "bench-analyst"
    env = {
        "WATCHFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "WATCHFLOW_WRITE_KEYS": "wk-unused",
        "WATCHFLOW_READ_TOKENS": f"{token}=analyst",
        "WATCHFLOW_DATA_DIR": str(api_dir),
        "WATCHFLOW_API_HOST": HOST,
        "WATCHFLOW_API_PORT": str(api_port),
        "WATCHFLOW_PARTITIONS": str(partitions),
        "WATCHFLOW_WORKER_URLS": f"http://{HOST}:{worker_port}",
    }
    reader = Reader(f"http://{HOST}:{api_port}", token) if visible_per_s > 0 else None
    with api_server(env, api_port, None, api_dir.with_suffix(".log")):
        since = time.time()
        found = asyncio.run(
            paced_latency(
                bootstrap, changelog, partitions, ev, rate, probe_every, reader, visible_per_s, pid
            )
        )
    url = f"http://{HOST}:{worker_port}/stats/hot-path?since={since}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            found["worker"] = json.loads(answer.read())
    except OSError as exc:
        found["worker"] = {"error": repr(exc)}
    return found
