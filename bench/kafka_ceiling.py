"""The ceiling of the ingest benchmark: a bare aiokafka producer loop, no HTTP, no validation.

It sends the events the API would publish (same bytes, keyed by user_id) to the same topic
with the API's producer settings (acks=all, idempotent, linger 2 ms, 256 KiB batches), in
chunks of 1000, waiting for every ack of a chunk before sending the next; two such loops run
at once (``--tasks``), so the producer is never idle waiting for a round trip. (With one loop
the figure is round-trip bound; with four or more, ``send_batch`` raises KafkaTimeoutError in
aiokafka 0.14, see docs/benchmarks.md.) Two variants:

- ``send``: ``producer.send()`` per record, then gather the chunk's futures;
- ``send_batch``: records grouped per partition into ``create_batch()`` batches sent with
  ``send_batch()``, as ``ingest_api.publisher`` does.

Run in its own process (``python -m bench.kafka_ceiling``), pinned to the API's core by the
ingest benchmark; it prints one JSON line: events, seconds, cpu_s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import uvloop
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from bench.events import EventStream, make_pool
from bench.processes import BenchError, cpu_seconds, pinned, python_module, runqueue_seconds

VARIANTS = ("send", "send_batch")
RING_CHUNKS = 50  # distinct chunks sent round-robin, built before the clock starts


def producer(bootstrap: str) -> AIOKafkaProducer:
    """A producer set up as ``ingest_api.publisher.KafkaPublisher`` sets up its own."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
        max_request_size=2 * 1024 * 1024,
    )


async def _send_chunk(
    p: AIOKafkaProducer, topic: str, keys: list[bytes], values: list[bytes]
) -> None:
    futures = [await p.send(topic, value=v, key=k) for k, v in zip(keys, values, strict=True)]
    await asyncio.gather(*futures)


async def _send_batch_chunk(
    p: AIOKafkaProducer,
    topic: str,
    by_partition: dict[int, list[tuple[bytes, bytes]]],
) -> None:
    sends = []
    now = time.time() * 1000
    for partition, records in by_partition.items():
        batch = p.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=now) is None:
                sends.append(await p.send_batch(batch, topic, partition=partition))
                batch = p.create_batch()
                batch.append(key=key, value=value, timestamp=now)
        sends.append(await p.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*sends)


async def measure(
    bootstrap: str, topic: str, variant: str, seconds: float, chunk: int, tasks: int
) -> dict[str, Any]:
    """Events acknowledged per second over ``seconds``, after a one-second warm-up."""
    p = producer(bootstrap)
    await p.start()
    try:
        partitions = sorted(await p.partitions_for(topic))
        stream = EventStream(make_pool())
        ring = [stream.next(chunk) for _ in range(RING_CHUNKS)]
        # Partitioning is the client's work in both variants; send() does it inside.
        grouped = []
        for keys, values in ring:
            by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
            for k, v in zip(keys, values, strict=True):
                part = partitions[(murmur2(k) & 0x7FFFFFFF) % len(partitions)]
                by_partition.setdefault(part, []).append((k, v))
            grouped.append(by_partition)

        async def one(i: int) -> None:
            if variant == "send":
                await _send_chunk(p, topic, *ring[i % RING_CHUNKS])
            else:
                await _send_batch_chunk(p, topic, grouped[i % RING_CHUNKS])

        async def loop(first: int, until: float) -> int:
            # One of ``tasks`` senders, each waiting for its chunk's acks before the next.
            i, sent = first, 0
            while time.perf_counter() < until:
                await one(i)
                i += tasks
                sent += chunk
            return sent

        warm = time.perf_counter() + 1.0
        await asyncio.gather(*(loop(t, warm) for t in range(tasks)))
        me = os.getpid()
        cpu0, wait0, t0 = cpu_seconds(me), runqueue_seconds(me), time.perf_counter()
        sent = sum(await asyncio.gather(*(loop(t, t0 + seconds) for t in range(tasks))))
        elapsed = time.perf_counter() - t0
        return {
            "events": sent,
            "seconds": elapsed,
            "cpu_s": cpu_seconds(me) - cpu0,
            "runqueue_s": runqueue_seconds(me) - wait0,
            "chunk": chunk,
            "tasks": tasks,
        }
    finally:
        await p.stop()


def run(
    bootstrap: str,
    topic: str,
    variant: str,
    seconds: float,
    core: int | None,
    chunk: int = 1000,
    tasks: int = 2,
) -> dict[str, Any]:
    """One measurement in a fresh process on ``core``; adds events_s and cpu (cores used)."""
    command = python_module(
        "bench.kafka_ceiling",
        bootstrap,
        topic,
        variant,
        f"{seconds}",
        f"--chunk={chunk}",
        f"--tasks={tasks}",
    )
    done = subprocess.run(
        pinned(command, core), capture_output=True, text=True, timeout=seconds + 120
    )
    if done.returncode != 0:
        raise BenchError(f"the aiokafka ceiling ({variant}) failed:\n{done.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["events_s"] = out["events"] / out["seconds"]
    out["cpu"] = out["cpu_s"] / out["seconds"]
    out["waiting"] = out["runqueue_s"] / out["seconds"]
    return out


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kafka_ceiling")
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=2, help="chunks in flight at once")
    args = parser.parse_args(argv)
    # uvloop, as the API runs on.
    result = uvloop.run(
        measure(args.bootstrap, args.topic, args.variant, args.seconds, args.chunk, args.tasks)
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
