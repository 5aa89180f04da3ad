"""``watchflow simulate``: a simulated audience driven through a running ingest API.

The audience model (``jobs.audience``) writes each viewer's timeline; this driver only decides
when each step is released and delivers the events: a backfill window is released as fast as
``rate`` allows, a live window when each step's time has come on the clock. Released steps are
routed by user to one of ``connections`` senders, so one user's events are in at most one
request at a time and reach the API in order. A sender batches what has arrived (up to
``batch`` events), and retries a batch after 429, 503 or a broken connection until it is
acknowledged: nothing is lost, and an event counts as sent only once acknowledged.

Errors::

    SimulationError          base: the run cannot go on
    ├── ApiUnreachable       no answer from the API for ``give_up_after_s``
    ├── WriteKeyRefused      401/403: the write key is wrong
    ├── ApiFailed            the API kept failing with 5xx
    ├── BatchTooLarge        the API's per-device burst is smaller than one batch
    └── CatalogRejected      the API refused catalog entries
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import zlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
import orjson

from jobs.arrivals import measure_live_load
from jobs.audience import Audience, default_run_tag
from jobs.demo_catalog import build_demo_catalog
from jobs.timeline import Step, datetime_of, iso, ms_of
from jobs.truth import Truth

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_BACKFILL_USERS = 50
MAX_BACKFILL_DAYS = 6.0  # the API refuses events older than 7 days: a day of margin
MAX_BATCH = 1000
ERRORS_KEPT = 20

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


class SimulationError(Exception):
    """The simulation cannot go on."""


class ApiUnreachable(SimulationError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"no answer from {url}: {reason}")
        self.url = url
        self.reason = reason


class WriteKeyRefused(SimulationError):
    def __init__(self, url: str, status: int, body: str) -> None:
        super().__init__(f"{url} refused the write key ({status}): {body}")
        self.url = url
        self.status = status


class ApiFailed(SimulationError):
    def __init__(self, url: str, status: int, body: str) -> None:
        super().__init__(f"{url} kept failing with {status}: {body[:300]}")
        self.url = url
        self.status = status


class BatchTooLarge(SimulationError):
    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}; use a smaller --batch")
        self.url = url


class CatalogRejected(SimulationError):
    def __init__(self, rejected: list[dict[str, Any]]) -> None:
        super().__init__(f"the API rejected {len(rejected)} catalog entries: {rejected[:3]}")
        self.rejected = rejected


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    api_url: str
    write_key: str
    users: int | None = None  # population; caps the live viewers derived from ``rate``
    rate: float = 200.0  # events per second, at most
    duration_s: float = 60.0  # live seconds after the backfill; 0 for none
    backfill_days: float = 0.0  # days of history ending at the start, released first
    seed: int = 1
    batch: int = 50
    connections: int = 4
    catalog: bool = True  # post the demo catalog first
    run_tag: str | None = None  # part of every id; default from the seed and the start time
    request_timeout_s: float = 30.0
    give_up_after_s: float = 120.0  # of connection failures in a row

    def __post_init__(self) -> None:
        if self.users is not None and self.users < 1:
            raise ValueError("users must be at least 1")
        if not self.rate > 0:
            raise ValueError("rate must be positive")
        if self.duration_s < 0:
            raise ValueError("duration must not be negative")
        if not 0 <= self.backfill_days <= MAX_BACKFILL_DAYS:
            raise ValueError(f"backfill days must be between 0 and {MAX_BACKFILL_DAYS:g}")
        if self.duration_s == 0 and self.backfill_days == 0:
            raise ValueError("nothing to simulate: give a duration or backfill days")
        if not 1 <= self.batch <= MAX_BATCH:
            raise ValueError(f"batch must be 1 to {MAX_BATCH}")
        if self.connections < 1:
            raise ValueError("connections must be at least 1")


@dataclass(frozen=True, slots=True)
class Progress:
    phase: str  # "backfill", "live", "drain" or "done"
    elapsed_s: float
    sent: int
    rejected: int
    retries: int
    at: datetime | None  # event time of the latest released step

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SimulationReport:
    events_sent: int  # acknowledged: accepted plus what the API recognised as duplicates
    duplicates: int
    rejected: int
    errors: tuple[str, ...]  # the first rejects, "event_id: field: reason"
    retries: int
    requests: int
    elapsed_s: float
    history_viewers: int
    live_viewers: int
    catalog_videos: int
    interrupted: bool
    truth: Truth
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def achieved_rate(self) -> float:
        return self.events_sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def truth_json(self) -> dict[str, Any]:
        return self.truth.to_json(self.meta)


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def simulate(
    config: SimulationConfig,
    *,
    clock: Clock = _utc_now,
    sleep: Sleep = asyncio.sleep,
    progress: Callable[[Progress], None] | None = None,
    stop: asyncio.Event | None = None,
) -> SimulationReport:
    """Post the catalog, release the backfill then the live window, and report.

    ``clock`` and ``sleep`` are the only sense of time: a test passes a fake pair and a live
    hour runs in a second. Setting ``stop`` ends the run early; what was released is still
    delivered.
    """
    started = clock()
    tag = config.run_tag or default_run_tag(config.seed, started)
    catalog = build_demo_catalog()
    live_n, arrivals = 0, []
    if config.duration_s > 0:
        load = measure_live_load(catalog)
        live_n = min(load.viewers_for(config.rate), config.users or sys.maxsize)
        arrivals = load.arrivals_ms(config.rate, live_n)
    history_n = (config.users or DEFAULT_BACKFILL_USERS) if config.backfill_days > 0 else 0
    audience = Audience(catalog, size=max(live_n, history_n), seed=config.seed, tag=tag)
    truth = Truth(audience.profile)
    meta: dict[str, Any] = {"seed": config.seed, "run_tag": tag, "api_url": config.api_url}

    headers = {"Authorization": f"Bearer {config.write_key}"}
    limits = httpx.Limits(
        max_connections=config.connections, max_keepalive_connections=config.connections
    )
    async with httpx.AsyncClient(
        headers=headers, limits=limits, timeout=config.request_timeout_s
    ) as client:
        if config.catalog:
            await post_catalog(
                client,
                config.api_url,
                config.write_key,
                [v.catalog_doc() for v in catalog.videos],
                sleep=sleep,
                clock=lambda: clock().timestamp(),
                give_up_after_s=config.give_up_after_s,
            )
        run = _Run(config, client, truth, clock, sleep, progress, stop)
        try:
            async with asyncio.TaskGroup() as tg:
                for queue in run.queues:
                    tg.create_task(run.sender(queue))
                if history_n:
                    end = clock()
                    begin = end - timedelta(days=config.backfill_days)
                    meta["history"] = _window(begin, end, history_n)
                    await run.release(audience.history(begin, end, history_n), "backfill")
                if live_n and not run.stopped:
                    begin = clock()
                    end = begin + timedelta(seconds=config.duration_s)
                    meta["live"] = _window(begin, end, live_n)
                    steps = audience.live(begin, end, live_n, arrivals)
                    await run.release(steps, "live")
                run.phase = "drain"
                for queue in run.queues:
                    await queue.put(None)
        except* SimulationError as group:
            raise group.exceptions[0] from None
        run.phase = "done"
        run.report_progress(force=True)
    return SimulationReport(
        events_sent=run.sent,
        duplicates=run.duplicates,
        rejected=run.rejected,
        errors=tuple(run.errors),
        retries=run.retries,
        requests=run.requests,
        elapsed_s=run.elapsed(),
        history_viewers=history_n,
        live_viewers=live_n,
        catalog_videos=len(catalog) if config.catalog else 0,
        interrupted=run.stopped,
        truth=truth,
        meta=meta,
    )


def _window(begin: datetime, end: datetime, viewers: int) -> dict[str, Any]:
    return {"from": iso(ms_of(begin)), "to": iso(ms_of(end)), "viewers": viewers}


class _Run:
    """The state of one run: queues per sender, counters, pacing."""

    def __init__(
        self,
        config: SimulationConfig,
        client: httpx.AsyncClient,
        truth: Truth,
        clock: Clock,
        sleep: Sleep,
        progress: Callable[[Progress], None] | None,
        stop: asyncio.Event | None,
    ) -> None:
        self.config = config
        self.client = client
        self.truth = truth
        self.clock = clock
        self.sleep = sleep
        self.progress = progress
        self.stop = stop
        self.events_url = config.api_url.rstrip("/") + "/v1/events"
        # Bounded, so a slow API holds the release back instead of filling memory.
        self.queues: list[asyncio.Queue[Step | None]] = [
            asyncio.Queue(maxsize=config.batch * 4) for _ in range(config.connections)
        ]
        self._route: dict[str, int] = {}
        self.phase = "backfill"
        self.sent = self.duplicates = self.rejected = self.retries = self.requests = 0
        self.errors: list[str] = []
        self.stopped = False
        self.latest_ms: int | None = None
        self._t0 = self._now_s()
        self._paced = 0
        self._pace_t0 = self._t0
        self._last_progress = -math.inf

    def _now_s(self) -> float:
        return self.clock().timestamp()

    def elapsed(self) -> float:
        return self._now_s() - self._t0

    async def release(self, steps: Iterator[Step], phase: str) -> None:
        """Hand each step to its user's sender: live ones when due, all at most at ``rate``."""
        self.phase = phase
        live = phase == "live"
        self._paced, self._pace_t0 = 0, self._now_s()
        for n, step in enumerate(steps):
            if self.stop is not None and self.stop.is_set():
                self.stopped = True
                return
            if live and not await self._until(step.at_ms / 1000):
                self.stopped = True
                return
            if step.event is not None:
                await self._pace()
            sender = self._route.get(step.user_id)
            if sender is None:
                sender = zlib.crc32(step.user_id.encode()) % len(self.queues)
                self._route[step.user_id] = sender
            await self.queues[sender].put(step)
            self.latest_ms = step.at_ms
            if n % 256 == 0:
                self.report_progress()

    async def _until(self, t: float) -> bool:
        """Sleep until ``t`` on the clock, half a second at a time; False if stopped first."""
        while (ahead := t - self._now_s()) > 0.005:
            if self.stop is not None and self.stop.is_set():
                return False
            await self.sleep(min(ahead, 0.5))
        return True

    async def _pace(self) -> None:
        now = self._now_s()
        due = self._pace_t0 + self._paced / self.config.rate
        if due - now > 0.005:
            await self.sleep(due - now)
        elif now - due > 1.0:
            self._pace_t0 += now - due - 1.0  # a slow spell buys at most a 1 s burst
        self._paced += 1

    async def sender(self, queue: asyncio.Queue[Step | None]) -> None:
        """Deliver what arrives on ``queue`` in batches, in order, until the end marker."""
        batch = self.config.batch
        while True:
            first = await queue.get()
            if first is None:
                return
            steps = [first]
            events = 0 if first.event is None else 1
            end = False
            while events < batch and not queue.empty():
                step = queue.get_nowait()
                if step is None:
                    end = True
                    break
                steps.append(step)
                events += 0 if step.event is None else 1
            await self._deliver(steps)
            if end:
                return

    async def _deliver(self, steps: list[Step]) -> None:
        docs = [s.event for s in steps if s.event is not None]
        if docs:
            body = orjson.dumps({"events": docs})
            answer = await post_acknowledged(
                self.client,
                self.events_url,
                body,
                "events",
                sleep=self.sleep,
                clock=self._now_s,
                on_retry=self._count_retry,
                give_up_after_s=self.config.give_up_after_s,
            )
            self.requests += 1
            self.sent += int(answer.get("accepted", 0)) + int(answer.get("duplicates", 0))
            self.duplicates += int(answer.get("duplicates", 0))
            for item in answer.get("rejected", []):
                self.rejected += 1
                if len(self.errors) < ERRORS_KEPT:
                    self.errors.append(f"{item.get('event_id')}: {item.get('error')}")
        for step in steps:
            self.truth.apply(step)
        self.report_progress()

    def _count_retry(self) -> None:
        self.retries += 1

    def report_progress(self, force: bool = False) -> None:
        if self.progress is None:
            return
        now = self._now_s()
        if not force and now - self._last_progress < 0.25:
            return
        self._last_progress = now
        at = None if self.latest_ms is None else datetime_of(self.latest_ms)
        self.progress(
            Progress(self.phase, now - self._t0, self.sent, self.rejected, self.retries, at)
        )


async def post_acknowledged(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    kind: str,
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] | None = None,
    on_retry: Callable[[], None] | None = None,
    give_up_after_s: float = 120.0,
    write_key: str | None = None,
) -> dict[str, Any]:
    """POST ``body`` until the API answers for it: ``{"accepted", "duplicates", "rejected"}``.

    429 and 503 are waited out (Retry-After) and the same body sent again; so is a broken
    connection, for up to ``give_up_after_s``. A refused request (4xx) comes back with every
    item rejected and the API's reason.
    """
    now = clock or asyncio.get_running_loop().time
    headers = {"Content-Type": "application/json"}
    if write_key is not None:
        headers["Authorization"] = f"Bearer {write_key}"
    failing_since: float | None = None
    failures = 0
    while True:
        try:
            r = await client.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            failing_since = now() if failing_since is None else failing_since
            if now() - failing_since > give_up_after_s:
                raise ApiUnreachable(url, repr(exc)) from exc
            failures += 1
            if on_retry:
                on_retry()
            await sleep(min(0.25 * 2 ** min(failures, 5), 5.0))
            continue
        failing_since = None
        if r.status_code == 429 and "larger than the burst" in r.text:
            raise BatchTooLarge(url, r.text)  # waiting would never help
        if r.status_code in (429, 503):
            if on_retry:
                on_retry()
            await sleep(_retry_after(r))
            continue
        if r.status_code in (401, 403):
            raise WriteKeyRefused(url, r.status_code, r.text)
        if r.status_code >= 500:
            failures += 1
            if failures > 5:
                raise ApiFailed(url, r.status_code, r.text)
            if on_retry:
                on_retry()
            await sleep(min(0.5 * 2**failures, 10.0))
            continue
        answer: Any = r.json() if r.content else {}
        if r.status_code in (200, 422) and isinstance(answer, dict) and "accepted" in answer:
            return answer
        # The whole request was refused (400, 413, 422 on the body's shape, ...).
        reason = answer.get("error") if isinstance(answer, dict) else None
        items = orjson.loads(body)[kind]
        id_field = "event_id" if kind == "events" else "video_id"
        return {
            "accepted": 0,
            "duplicates": 0,
            "rejected": [
                {"index": i, "event_id": doc.get(id_field), "error": f"{r.status_code}: {reason}"}
                for i, doc in enumerate(items)
            ],
        }


def _retry_after(r: httpx.Response) -> float:
    try:
        return max(0.0, float(r.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


async def post_catalog(
    client: httpx.AsyncClient,
    api_url: str,
    write_key: str,
    videos: Sequence[Mapping[str, Any]],
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] | None = None,
    give_up_after_s: float = 120.0,
) -> None:
    """Upsert ``videos`` with ``POST /v1/catalog/videos``; raise CatalogRejected on any reject.

    Waits out 429 and 503 like the events; ``clock`` (seconds) times the give-up on a dead API.
    """
    url = api_url.rstrip("/") + "/v1/catalog/videos"
    rejected: list[dict[str, Any]] = []
    for i in range(0, len(videos), MAX_BATCH):
        chunk = list(videos[i : i + MAX_BATCH])
        answer = await post_acknowledged(
            client,
            url,
            orjson.dumps({"videos": chunk}),
            "videos",
            sleep=sleep,
            clock=clock,
            give_up_after_s=give_up_after_s,
            write_key=write_key,
        )
        rejected.extend(answer.get("rejected", []))
    if rejected:
        raise CatalogRejected(rejected)


# -- the command line -----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``watchflow simulate``."""
    parser.add_argument(
        "--api-url", default=None, help=f"default: WATCHFLOW_API_URL or {DEFAULT_API_URL}"
    )
    parser.add_argument(
        "--write-key",
        default=None,
        help="default: WATCHFLOW_WRITE_KEY, else the development key in "
        "<WATCHFLOW_DATA_DIR or .watchflow>/dev-credentials.json",
    )
    parser.add_argument(
        "--users",
        type=int,
        default=None,
        help="viewers: all of them have history; caps the live viewers (default: as many "
        f"live viewers as --rate needs, {DEFAULT_BACKFILL_USERS} with history)",
    )
    parser.add_argument("--rate", type=float, default=200.0, help="events/s, at most (200)")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds of live audience (default 60, or 0 with --backfill-days)",
    )
    parser.add_argument(
        "--backfill-days",
        type=float,
        default=0.0,
        help=f"days of history ending now, sent first as fast as --rate allows "
        f"(0 to {MAX_BACKFILL_DAYS:g})",
    )
    parser.add_argument("--seed", type=int, default=1, help="same seed, same audience (1)")
    parser.add_argument("--batch", type=int, default=50, help="events per request, at most (50)")
    parser.add_argument("--connections", type=int, default=4, help="concurrent requests (4)")
    parser.add_argument(
        "--truth-out", type=Path, default=None, help="write what every viewer truly watched (JSON)"
    )
    parser.add_argument(
        "--catalog",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="post the demo catalog first (default: yes)",
    )
    parser.add_argument("--run-tag", default=None, help="part of every id (default: fresh per run)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``watchflow simulate``; 0 when every event was acknowledged, 1 on rejects."""
    write_key = args.write_key or os.environ.get("WATCHFLOW_WRITE_KEY") or _dev_write_key()
    if not write_key:
        print(
            "watchflow simulate: no write key: pass --write-key, set WATCHFLOW_WRITE_KEY, or "
            "start `watchflow api` once to create the development key",
            file=sys.stderr,
        )
        return 2
    duration = args.duration
    if duration is None:
        duration = 0.0 if args.backfill_days else 60.0
    try:
        config = SimulationConfig(
            api_url=args.api_url or os.environ.get("WATCHFLOW_API_URL") or DEFAULT_API_URL,
            write_key=write_key,
            users=args.users,
            rate=args.rate,
            duration_s=duration,
            backfill_days=args.backfill_days,
            seed=args.seed,
            batch=args.batch,
            connections=args.connections,
            catalog=args.catalog,
            run_tag=args.run_tag,
        )
    except ValueError as exc:
        print(f"watchflow simulate: {exc}", file=sys.stderr)
        return 2
    line = None if args.quiet else ProgressLine(sys.stderr, config.rate)
    try:
        report = asyncio.run(_run_until_interrupted(config, line))
    except SimulationError as exc:
        if line:
            line.close()
        print(f"watchflow simulate: {exc}", file=sys.stderr)
        return 1
    if line:
        line.close()
    print(summary(report, config))
    if args.truth_out is not None:
        write_truth(args.truth_out, report)
        print(f"truth      written to {args.truth_out}")
    return 1 if report.rejected else 0


async def _run_until_interrupted(
    config: SimulationConfig, line: ProgressLine | None
) -> SimulationReport:
    """The first Ctrl-C stops releasing and delivers what is on its way; a second one aborts."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_sigint() -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await simulate(config, progress=line, stop=stop)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


def _dev_write_key() -> str | None:
    data_dir = Path(os.environ.get("WATCHFLOW_DATA_DIR", ".watchflow"))
    try:
        saved = json.loads((data_dir / "dev-credentials.json").read_text())
    except (OSError, ValueError):
        return None
    key = saved.get("write_key") if isinstance(saved, dict) else None
    return key if isinstance(key, str) and key else None


class ProgressLine:
    """A carriage-return status line on a terminal; a line every 5 s otherwise.

    It shows the rate since the previous update, and the average once done.
    """

    def __init__(self, out: TextIO, target_rate: float) -> None:
        self.out = out
        self.target_rate = target_rate
        self.tty = out.isatty()
        self._last_line = -math.inf
        self._open = False
        self._previous: Progress | None = None

    def __call__(self, p: Progress) -> None:
        rate = p.rate
        before = self._previous
        if before is not None and p.elapsed_s - before.elapsed_s >= 0.2 and p.phase != "done":
            rate = (p.sent - before.sent) / (p.elapsed_s - before.elapsed_s)
        self._previous = p
        at = f"  at {p.at:%Y-%m-%d %H:%MZ}" if p.at is not None and p.phase == "backfill" else ""
        text = (
            f"[{p.phase}] {p.elapsed_s:7.1f} s  sent {p.sent:,}  {rate:,.0f}/s "
            f"(target {self.target_rate:,.0f})  rejected {p.rejected:,}  retries {p.retries:,}{at}"
        )
        if self.tty:
            self.out.write("\r" + text.ljust(100))
            self._open = True
        elif p.phase == "done" or p.elapsed_s - self._last_line >= 5.0:
            self._last_line = p.elapsed_s
            self.out.write(text + "\n")
        self.out.flush()

    def close(self) -> None:
        if self._open:
            self.out.write("\n")
            self.out.flush()
            self._open = False


def summary(report: SimulationReport, config: SimulationConfig) -> str:
    """The closing lines: viewers, events, achieved rate, retries and rejects."""
    parts = []
    if report.history_viewers:
        parts.append(f"{report.history_viewers:,} with {config.backfill_days:g} days of history")
    if report.live_viewers:
        parts.append(f"{report.live_viewers:,} live for {config.duration_s:g} s")
    lines = [
        f"viewers    {'; '.join(parts)} (run tag {report.meta.get('run_tag')})"
        + ("; interrupted" if report.interrupted else ""),
        f"events     {report.events_sent:,} acknowledged in {report.elapsed_s:.1f} s: "
        f"{report.achieved_rate:,.0f} events/s (target {config.rate:,.0f})",
        f"requests   {report.requests:,}; retries {report.retries:,}; "
        f"duplicates {report.duplicates:,}; rejected {report.rejected:,}",
    ]
    if report.catalog_videos:
        lines.insert(0, f"catalog    {report.catalog_videos} videos")
    for error in report.errors[:5]:
        lines.append(f"  rejected: {error}")
    return "\n".join(lines)


def write_truth(path: Path, report: SimulationReport) -> None:
    """Write the truth file atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(report.truth_json(), option=orjson.OPT_INDENT_2))
    tmp.replace(path)
