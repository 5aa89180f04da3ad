"""The stream: decode -> model (``Processor``) -> emit -> table write. Nothing else.

One agent (``concurrency=1``: Faust's table writers must not run concurrently, #606) reads
``player-events``; a timer closes idle sessions by the event-time watermark. A step's
milestones and session records are sent, and acknowledged by Kafka, before its state is
written: a crash in between re-emits them on replay (same ids), never loses them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.types import TP

from ingest_api.contract import (
    TOPIC_DEAD_LETTER,
    TOPIC_MILESTONES,
    TOPIC_PLAYER_EVENTS,
    TOPIC_SESSIONS,
)
from streams import records, tables
from streams.processor import Processor, Step
from streams.records import BadRecord

log = logging.getLogger("watchflow.worker")


class Replays:
    """Which offsets a crashed (or moved) run may already have processed.

    Faust writes RocksDB before the changelog record is acknowledged, so after a crash the
    local state can be ahead of the changelog; re-read events are then no-ops that would
    leave the changelog behind. Offsets below the log end seen when a partition is first
    read after an assignment are "maybe replayed": their no-op steps rewrite the keys they
    touch (see docs/stream-worker.md).
    """

    def __init__(self, consumer_highwater: Any) -> None:
        self._highwater = consumer_highwater
        self._until: dict[TP, int] = {}

    def maybe_replayed(self, tp: TP, offset: int) -> bool:
        until = self._until.get(tp)
        if until is None:
            until = self._until[tp] = int(self._highwater(tp) or 0)
        return offset < until

    def reset(self) -> None:
        self._until.clear()


def install(
    app: faust.App,
    proc: Processor,
    t: tables.Tables,
    catalog_ready: asyncio.Event,
    sweep_every_s: float,
) -> None:
    """Define the agent, the idle sweep and the assignment hooks on ``app``."""
    n = proc.partitions

    def topic(name: str) -> Any:
        return app.topic(name, key_serializer="raw", value_serializer="raw", partitions=n)

    events = topic(TOPIC_PLAYER_EVENTS)
    milestones, sessions, dlq = (
        topic(TOPIC_MILESTONES),
        topic(TOPIC_SESSIONS),
        topic(TOPIC_DEAD_LETTER),
    )
    # Held while a step's records are in flight, so the sweep and the agent never compute a
    # step from a state the other is about to replace.
    lock = asyncio.Lock()
    replays = Replays(lambda tp: app.consumer.highwater(tp))
    held: set[int] = set()

    async def emit(step: Step) -> None:
        futs = [
            await milestones.send(key=m.user_id.encode(), value=records.milestone_bytes(m))
            for m in step.milestones
        ]
        futs += [
            await sessions.send(key=s.user_id.encode(), value=records.session_bytes(s))
            for s in step.sessions
        ]
        await asyncio.gather(*futs)

    async def dead_letter(msg: Any, error: str) -> None:
        log.warning(
            "record dead-lettered",
            extra={"partition": msg.partition, "offset": msg.offset, "error": error},
        )
        value = records.dead_letter(
            error,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=msg.key,
            value=msg.value,
        )
        await dlq.send(key=msg.key, value=value)

    @app.agent(events, concurrency=1, name="watch-state")
    async def watch_state(stream: Any) -> None:
        await catalog_ready.wait()
        async for event in stream.events():
            msg = event.message
            try:
                ev = records.decode_event(msg.key, msg.value)
            except BadRecord as exc:
                await dead_letter(msg, exc.error)
                continue
            # The step is computed and applied under the lock the idle sweep holds for its own
            # steps, so neither builds on state the other is about to replace.
            async with lock:
                try:
                    step = proc.advance(
                        ev, msg.partition, rewrite=replays.maybe_replayed(msg.tp, msg.offset)
                    )
                except Exception as exc:  # a model bug must not stall the partition forever
                    log.exception("event could not be processed")
                    failure: str | None = f"processing: {exc!r}"
                else:
                    failure = None
                    if step.emits:
                        await emit(step)
                    proc.apply(step)
            if failure is not None:
                await dead_letter(msg, failure)

    @app.timer(sweep_every_s)  # type: ignore[untyped-decorator]
    async def close_idle_sessions() -> None:
        if app.rebalancing:
            return
        for p in proc.open.partitions():
            async with lock:
                step = proc.sweep(p)
                if step is None:
                    continue
                await emit(step)
                proc.apply(step)
                log.info(
                    "idle sessions closed",
                    extra={"partition": p, "sessions": len(step.sessions)},
                )

    @app.task  # type: ignore[untyped-decorator]
    async def declare_outputs() -> None:
        # auto.create.topics.enable=false: Faust does not create topics it only produces to.
        for topic in (milestones, sessions, dlq):
            await topic.maybe_declare()

    async def on_recovered() -> None:
        """After each rebalance: index newly held partitions, forget the ones given away."""
        active = {
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == events.topics[0]
        }
        for p in held - active:
            proc.forget(p)
        for p in sorted(active - held):
            found = proc.index(p, tables.local_items(t.videos, p))
            log.info("partition indexed", extra={"partition": p, "open_sessions": found})
        held.clear()
        held.update(active)
        replays.reset()

    t.videos.on_recover(on_recovered)
