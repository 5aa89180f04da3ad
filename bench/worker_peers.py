"""The worker benchmark's peers: the same state update as ``watchflow worker``, other frameworks.

Both drive the worker's own step logic, ``streams.processor.Processor`` (``decode_event`` →
``watch_state.advance`` → ``codec.encode_video``, the open-session cache, milestones and
session records), so what differs is only the framework around it:

- ``quix``: a Quix Streams application; ``sdf.apply(stateful=True, expand=True)`` with the
  three tables as prefixes in Quix's RocksDB state (message key = user_id, as the worker's
  table partition is the user's), changelogs on; the step's milestone and session records
  go to the same output topics through ``to_topic`` (Quix flushes them before its state at
  each checkpoint: the same "record durable before state" order as the worker's);
- ``aiokafka``: the ceiling: a bare ``AIOKafkaConsumer.getmany`` loop, dict state (no
  RocksDB, no changelog), outputs sent with a bare producer and acknowledged before each
  offset commit.

Both commit every ``--commit-interval`` seconds, like the worker, so the orchestrator
(``bench.worker``) measures all three the same way: by the consumer group's committed offsets.
``python -m bench.worker_peers quix|aiokafka BOOTSTRAP GROUP STATE_DIR [--commit-interval S]``
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from ingest_api.contract import TOPIC_MILESTONES, TOPIC_PLAYER_EVENTS, TOPIC_SESSIONS
from streams import records, tables
from streams.model.catalog import Catalog
from streams.model.rules import Rules
from streams.processor import Processor, Step
from streams.records import BadRecord

PARTITIONS = 8


def _outputs(step: Step) -> list[tuple[str, bytes, bytes]]:
    out = [
        (TOPIC_MILESTONES, m.user_id.encode(), records.milestone_bytes(m)) for m in step.milestones
    ]
    out += [(TOPIC_SESSIONS, s.user_id.encode(), records.session_bytes(s)) for s in step.sessions]
    return out


class _ScopedStore:
    """One worker table inside the Quix state of the current message's key (its user)."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.state: Any = None

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.state.get(self.prefix + key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.state.set(self.prefix + key, value)


def run_quix(bootstrap: str, group: str, state_dir: str, commit_interval: float) -> None:
    from quixstreams import Application
    from quixstreams.state.rocksdb import RocksDBOptions

    def raw(x: Any) -> Any:
        return x

    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        commit_interval=commit_interval,
        loglevel="WARNING",
        rocksdb_options=RocksDBOptions(dumps=raw, loads=raw),
    )
    source = app.topic(TOPIC_PLAYER_EVENTS, key_deserializer="bytes", value_deserializer="bytes")
    outs = {
        name: app.topic(name, key_serializer="bytes", value_serializer="bytes")
        for name in (TOPIC_MILESTONES, TOPIC_SESSIONS)
    }
    stores = _ScopedStore(b"v"), _ScopedStore(b"u"), _ScopedStore(b"h")
    proc = Processor(*stores, Catalog(), Rules(), PARTITIONS)

    def step(value: bytes, key: bytes, _ts: int, _headers: Any, state: Any) -> list[Any]:
        for s in stores:
            s.state = state
        try:
            ev = records.decode_event(key, value)
        except BadRecord:
            return []
        st = proc.step(ev, tables.partition_of(ev.user_id.encode(), PARTITIONS))
        proc.apply(st)
        return [(t, v) for t, _, v in _outputs(st)]

    sdf = app.dataframe(source).apply(step, stateful=True, expand=True, metadata=True)

    def only(name: str) -> Any:
        return lambda out: out[0] == name

    def value(out: tuple[str, bytes]) -> bytes:
        return out[1]

    for name, topic in outs.items():
        sdf.filter(only(name)).apply(value).to_topic(topic)
    app.run()


async def run_aiokafka(bootstrap: str, group: str, commit_interval: float) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(
        TOPIC_PLAYER_EVENTS,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,  # as the worker's (streams/app.py)
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    videos: dict[bytes, bytes] = {}
    users: dict[bytes, bytes] = {}
    history: dict[bytes, bytes] = {}
    proc = Processor(videos, users, history, Catalog(), Rules(), PARTITIONS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pending: list[Any] = []
    next_commit = time.monotonic() + commit_interval
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for tp, msgs in batches.items():
                for m in msgs:
                    try:
                        ev = records.decode_event(m.key, m.value)
                    except BadRecord:
                        continue
                    st = proc.step(ev, tp.partition)
                    proc.apply(st)
                    for topic, k, v in _outputs(st):
                        pending.append(await producer.send(topic, v, key=k))
            if time.monotonic() >= next_commit:
                await asyncio.gather(*pending)  # outputs acknowledged before offsets move
                pending.clear()
                await consumer.commit()
                next_commit = time.monotonic() + commit_interval
    finally:
        await asyncio.gather(*pending)
        await consumer.commit()
        await consumer.stop()
        await producer.stop()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_peers")
    parser.add_argument("peer", choices=("quix", "aiokafka"))
    parser.add_argument("bootstrap")
    parser.add_argument("group")
    parser.add_argument("state_dir")
    parser.add_argument("--commit-interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.peer == "quix":
        run_quix(args.bootstrap, args.group, args.state_dir, args.commit_interval)
    else:
        import uvloop

        uvloop.run(run_aiokafka(args.bootstrap, args.group, args.commit_interval))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
