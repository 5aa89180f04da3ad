"""The worker's catalog: every worker reads the whole ``catalog`` topic into memory.

Why not a Faust GlobalTable: the model reads the catalog through ``Catalog`` (an in-memory
index by video, series and shelf), so a GlobalTable would only add a RocksDB copy, a
changelog topic and a writer agent in front of the same in-memory object — and its recovery
would hold up the whole worker. The catalog topic (keyed by video_id, compacted) already is
the log; each worker replays it from the beginning with a group-less consumer and keeps
tailing it. Events wait until the catalog is read up to where it ended at start
(``ready``), so a restart does not process events against a half-loaded catalog.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from ingest_api.contract import CATALOG_VIDEO, TOPIC_CATALOG, error_messages
from streams.model.catalog import Catalog, meta_from_catalog

log = logging.getLogger("watchflow.worker.catalog")


def apply_record(catalog: Catalog, value: bytes | None) -> str | None:
    """Upsert one catalog record; the reason it was skipped, or None."""
    if value is None:
        return "tombstone: catalog entries are never deleted"
    try:
        video = CATALOG_VIDEO.validate_json(value)
    except ValidationError as exc:
        return "; ".join(error_messages(exc))
    catalog.upsert(meta_from_catalog(video))
    return None


async def follow(bootstrap: str, catalog: Catalog, ready: asyncio.Event) -> None:
    """Read the catalog topic from the beginning into ``catalog``, forever; set ``ready``
    once everything that was there at start has been read."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps: list[TopicPartition] = []
        while not tps:
            await consumer.topics()  # fetch metadata
            parts = consumer.partitions_for_topic(TOPIC_CATALOG) or set()
            tps = [TopicPartition(TOPIC_CATALOG, p) for p in sorted(parts)]
            if not tps:
                # Nothing to wait for: process events without a catalog until it appears.
                log.warning("catalog topic not found yet; retrying")
                ready.set()
                await asyncio.sleep(2.0)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        behind = {tp for tp in tps if end[tp] > 0}
        if not behind:
            ready.set()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for recs in batches.values():
                for r in recs:
                    why = apply_record(catalog, r.value)
                    if why is not None:
                        log.warning(
                            "catalog record skipped", extra={"offset": r.offset, "why": why}
                        )
            if behind:
                for tp in list(behind):
                    if await consumer.position(tp) >= end[tp]:
                        behind.discard(tp)
                if not behind:
                    log.info("catalog loaded", extra={"videos": len(catalog)})
                    ready.set()
    finally:
        await consumer.stop()
