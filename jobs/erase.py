"""``watchflow erase-user``: erase one user everywhere downstream of the Kafka log (GDPR, SPEC §7)
and say what was removed, what is on its way out, and what is not.

Two steps, in this order:

1. publish an ``EraseRequest`` to player-events, keyed by the user like their events (so it sits
   on their partition after every event of theirs acknowledged before it), with acks=all. Each
   stream worker drops the user's live state when it reaches it, and the sink drops the user's
   rows still in flight and erases tier 1 and tier 2 again (``jobs.sink``);
2. erase the warehouse right away (``warehouse.erase.erase_user``), so the report can say what
   was removed. The sink's own erase, when it reaches the request, then finds nothing or only
   rows that were still in flight.

If Kafka cannot be reached (or player-events does not exist there) the command fails before it
touches the warehouse (``ErasureNotPublished``, exit 1): nothing is half done, and running it
again is the whole fix. The other order (erase the warehouse, then fail saying live state was not
erased) would leave an erasure that is done in one place only, and one that the next sink batch
could undo: rows of the user still in flight would land after it, with no request in the log to
remove them. Once the request is published the erasure is durable: if the warehouse step then
fails (``WarehouseNotErasedYet``, exit 1), the sink completes it.

What stays: the Kafka log itself (player-events, watch-milestones, watch-sessions) until
retention. The log now also carries the request after the user's events, so a replay (or a sink
re-reading the log) erases the user again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from ingest_api.contract import TOPIC_PLAYER_EVENTS, EraseRequest, control_bytes
from warehouse.erase import erase_user
from warehouse.errors import WarehouseError
from warehouse.store import Store

KAFKA_LOG = (
    "not erased until retention: player-events, watch-milestones and watch-sessions keep the "
    "user's records; the log now also holds the erasure record after them, so a replay or a "
    "sink re-reading the log erases the user again"
)


class ErasureNotPublished(Exception):
    """The erase request did not reach Kafka; nothing was erased."""

    def __init__(self, bootstrap: str, reason: str) -> None:
        super().__init__(f"could not publish the erasure record to Kafka at {bootstrap}: {reason}")
        self.bootstrap = bootstrap
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Published:
    """Where Kafka stored the erase request."""

    topic: str
    partition: int
    offset: int


class WarehouseNotErasedYet(Exception):
    """The erase request is in Kafka, but erasing the warehouse now failed; the sink erases it
    when it reaches the request."""

    def __init__(self, req: EraseRequest, published: Published, error: str) -> None:
        super().__init__(
            f"erasure {req.erasure_id} is published to {published.topic} partition "
            f"{published.partition} offset {published.offset} (workers and the sink act on it), "
            f"but erasing the warehouse now failed: {error}; the sink erases it when it reaches "
            "the record, or run erase-user again"
        )
        self.request = req
        self.published = published
        self.error = error


Publish = Callable[[EraseRequest], Published]  # raises ErasureNotPublished


def erasure_request(user_id: str, *, now: datetime, erasure_id: str | None = None) -> EraseRequest:
    """A new erase request for ``user_id`` (``now`` must be timezone-aware)."""
    return EraseRequest(
        control="erase_user",
        erasure_id=erasure_id or uuid.uuid4().hex,
        user_id=user_id,
        requested_at=now,
    )


async def publish_request(bootstrap: str, req: EraseRequest, *, timeout_s: float) -> Published:
    """Write ``req`` to player-events on the user's partition, acks=all; raise
    ``ErasureNotPublished`` unless Kafka acknowledged it within ``timeout_s``."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        async with asyncio.timeout(timeout_s):
            await producer.start()
            # All topics' metadata: asking for one topic could make the broker auto-create it
            # with its default partition count, which would misplace the request.
            cluster = await producer.client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(TOPIC_PLAYER_EVENTS)
            if not partitions:
                raise ErasureNotPublished(bootstrap, f"topic {TOPIC_PLAYER_EVENTS} does not exist")
            key = req.user_id.encode()
            meta = await producer.send_and_wait(
                TOPIC_PLAYER_EVENTS,
                value=control_bytes(req),
                key=key,
                # the partition the API's publisher puts the user's events on (Java's murmur2)
                partition=DefaultPartitioner()(key, sorted(partitions), []),
            )
    except TimeoutError:
        raise ErasureNotPublished(bootstrap, f"no answer within {timeout_s:g} s") from None
    except (KafkaError, OSError) as exc:
        raise ErasureNotPublished(bootstrap, repr(exc)) from exc
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), timeout=timeout_s)
    return Published(meta.topic, meta.partition, meta.offset)


def erase(store: Store, req: EraseRequest, published: Published) -> dict[str, Any]:
    """Erase ``req``'s user from the warehouse (after ``published``); the JSON-ready report."""
    report = erase_user(store, req.user_id)
    return {
        **report.as_dict(),
        "erasure_id": req.erasure_id,
        "erasure_record": {
            "topic": published.topic,
            "partition": published.partition,
            "offset": published.offset,
        },
        "live_state": (
            f"erasure record published to {published.topic} partition {published.partition} "
            f"offset {published.offset} (erasure_id {req.erasure_id}): each worker drops the "
            "user's state when it reaches it"
        ),
        "in_flight": (
            "the sink drops the user's rows it has not written yet, and erases the warehouse "
            "again, when it reaches the erasure record"
        ),
        "not_erased": {"kafka_log": KAFKA_LOG},
    }


def erase_everywhere(
    store: Store, user_id: str, *, now: datetime, publish: Publish
) -> dict[str, Any]:
    """Publish the erase request, then erase the warehouse; the report. Raises
    ``ErasureNotPublished`` (from ``publish``) with the warehouse untouched, or
    ``WarehouseNotErasedYet`` once the request is out but the warehouse erase failed."""
    req = erasure_request(user_id, now=now)
    published = publish(req)
    try:
        return erase(store, req, published)
    except WarehouseError as exc:
        raise WarehouseNotErasedYet(req, published, str(exc)) from exc


def kafka_publisher(bootstrap: str, *, timeout_s: float) -> Publish:
    """``publish_request`` on the cluster at ``bootstrap``, as a blocking call."""

    def publish(req: EraseRequest) -> Published:
        return asyncio.run(publish_request(bootstrap, req, timeout_s=timeout_s))

    return publish
