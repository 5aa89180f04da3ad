"""The API's own work per event, in process: ``python -m bench.ingest_batch [--batch 100]``.

Times ``events_batch`` (parse, validate, check ``ts``, dedupe, serialise) on the benchmark's
bodies, without HTTP or Kafka, and its two dearest steps on their own. The clock is the
thread's CPU time, and the figure the lowest and median of many rounds: on a shared machine
the other processes slow a round down, never speed it up. Compare a change by running this
before and after it; take end-to-end rates from ``python -m bench ingest``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import orjson

from bench.events import EventStream, make_pool
from ingest_api.batches import EVENTS_FIELDS, events_batch, parse_body
from ingest_api.contract import ValidationContext


def bodies(batch: int, count: int) -> list[bytes]:
    """``count`` request bodies of ``batch`` events each, as the load generator sends them."""
    stream = EventStream(make_pool())
    return [b'{"events":[' + b",".join(stream.next(batch)[1]) + b"]}" for _ in range(count)]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_batch", description=__doc__)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--events", type=int, default=10_000, help="events per round")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    body_list = bodies(args.batch, max(1, args.events // args.batch))
    items = [parse_body(b, "events") for b in body_list]
    events = len(body_list) * args.batch
    ctx = ValidationContext(now=datetime.now(UTC))

    # Each step drops its results as it goes, as a server does: keeping them all would time
    # the allocator's fresh pages and the collector instead.
    def whole() -> None:
        for body in body_list:
            events_batch(body, ctx)

    def parse() -> None:
        for body in body_list:
            parse_body(body, "events")

    def validate() -> None:
        for batch in items:
            EVENTS_FIELDS.validate_python(batch)

    def serialise() -> None:
        for batch in items:
            for item in batch:
                orjson.dumps(item)

    steps: dict[str, Callable[[], None]] = {
        "events_batch (all of it)": whole,
        "  JSON parse (orjson)": parse,
        "  validation (pydantic-core)": validate,
        "  serialise (orjson.dumps)": serialise,
    }
    assert all(len(events_batch(b, ctx).records) == args.batch for b in body_list[:3])
    gc.collect()
    gc.freeze()  # as the API does at start-up (ingest_api/main.py)
    gc.set_threshold(50_000, 20, 100)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):  # interleaved, so the machine's noise falls on every step
        for name, step in steps.items():
            started = time.thread_time_ns()
            step()
            times[name].append((time.thread_time_ns() - started) / events / 1000)
    print(f"batch {args.batch}, {events:,} events a round, {args.rounds} rounds (µs/event)")
    print(f"{'step':<30} {'lowest':>7} {'median':>7}")
    for name, values in times.items():
        print(f"{name:<30} {min(values):>7.3f} {statistics.median(values):>7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
