"""GDPR erasure in the worker (SPEC §7): an erase request on player-events forgets the user's
live state, in order with their events, and leaves everyone else's alone."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from ingest_api.contract import EraseRequest, control_bytes
from streams import records, tables
from streams.batch import Batcher, Output
from streams.model.catalog import Catalog
from streams.model.rules import Rules
from streams.processor import Processor
from streams.writeback import DELETED, WriteBack

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
N = 8


def _doc(user: str, type_: str, seq: int, video: str = "v1", **more: Any) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"e-{user}-{video}-{seq:04d}",
            "type": type_,
            "ts": (T0 + timedelta(seconds=10 * seq)).isoformat(),
            "user_id": user,
            "device_id": "tv",
            "video_id": video,
            "session_id": f"s-{video}",
            "seq": seq,
            "position_s": 10.0 * seq,
            **more,
        }
    )


def _erase(user: str) -> bytes:
    return control_bytes(
        EraseRequest(control="erase_user", erasure_id="erasure-0001", user_id=user, requested_at=T0)
    )


def _watching(user: str, video: str, stop: bool) -> list[bytes]:
    out = [_doc(user, "start", 0, video, duration_s=300.0)]
    out += [_doc(user, "heartbeat", i, video) for i in range(1, 6)]
    if stop:
        out.append(_doc(user, "stop", 6, video))
    return out


class _Sink:
    """Stores a flush in the write-backs' backing dicts, as the worker's does in RocksDB."""

    def __init__(self, stores: dict[str, WriteBack]) -> None:
        self.stores = stores
        self.stored: list[dict[str, dict[bytes, bytes]]] = []

    async def send(self, outputs: Sequence[Output]) -> Awaitable[object]:
        return asyncio.sleep(0)

    async def store(self, writes: Any, offsets: Any) -> Awaitable[object]:
        self.stored.append({n: dict(w) for n, w in writes.items()})
        for name, values in writes.items():
            backing: dict[bytes, bytes] = self.stores[name].backing  # type: ignore[assignment]
            for key, value in values.items():
                if value == DELETED:
                    backing.pop(key, None)
                else:
                    backing[key] = value
        return asyncio.sleep(0)

    def ack(self, offsets: Any) -> None:
        pass


class _Rec:
    def __init__(self, partition: int, offset: int, key: bytes, value: bytes) -> None:
        self.topic, self.partition, self.offset = "player-events", partition, offset
        self.key: bytes | None = key
        self.value: bytes | None = value


class _TP:
    def __init__(self, partition: int) -> None:
        self.topic, self.partition = "player-events", partition


def _fold(values: list[tuple[bytes, bytes]]) -> tuple[Processor, dict[str, WriteBack], _Sink]:
    """Fold (key, value) records through the worker's batch path, flushing at the end."""
    stores = {n: WriteBack({}) for n in ("videos", "users", "history")}
    proc = Processor(stores["videos"], stores["users"], stores["history"], Catalog(), Rules(), N)
    sink = _Sink(stores)
    batcher = Batcher(proc, stores, sink, lambda tp, off: False)
    offsets: dict[int, int] = {}
    for key, value in values:
        p = tables.partition_of(key, N)
        offsets[p] = offsets.get(p, -1) + 1
        batcher.process(_TP(p), [_Rec(p, offsets[p], key, value)])
    asyncio.run(batcher.flush())
    return proc, stores, sink


def test_an_erase_request_decodes_as_such_and_a_bad_one_names_the_field() -> None:
    req = records.decode_event(b"alice", _erase("alice"))
    assert isinstance(req, EraseRequest) and req.user_id == "alice"
    bad = _erase("alice").replace(b'"erasure_id":"erasure-0001"', b'"erasure_id":"x"')
    with pytest.raises(records.BadRecord, match="erasure_id"):
        records.decode_event(b"alice", bad)
    with pytest.raises(records.BadRecord, match="key"):
        records.decode_event(b"bob", _erase("alice"))


def test_erasing_a_user_forgets_their_videos_profile_and_history_only() -> None:
    stream = [
        *[(b"alice", v) for v in _watching("alice", "v1", stop=True)],
        *[(b"alice", v) for v in _watching("alice", "v2", stop=False)],  # session still open
        *[(b"bob", v) for v in _watching("bob", "v1", stop=True)],
        (b"alice", _erase("alice")),
    ]
    proc, _, sink = _fold(stream)
    for video in ("v1", "v2"):
        assert proc.video(tables.video_key("alice", video)) is None
    assert proc.user(b"alice") is None
    assert proc.sessions_of(b"alice") == []
    assert proc.video(tables.video_key("bob", "v1")) is not None
    assert proc.sessions_of(b"bob") != []
    # the flush deletes them (DELETED: RocksDB delete + changelog tombstone in the worker)
    stored = sink.stored[-1]
    assert stored["videos"][tables.video_key("alice", "v1")] == DELETED
    assert stored["videos"][tables.video_key("alice", "v2")] == DELETED
    assert stored["history"][b"alice"] == DELETED
    assert stored["videos"][tables.video_key("bob", "v1")] != DELETED


def test_state_flushed_before_the_erasure_is_found_and_deleted_too() -> None:
    stores = {n: WriteBack({}) for n in ("videos", "users", "history")}
    proc = Processor(stores["videos"], stores["users"], stores["history"], Catalog(), Rules(), N)
    batcher = Batcher(proc, stores, _Sink(stores), lambda tp, off: False)
    p = tables.partition_of(b"alice", N)
    recs = [_Rec(p, i, b"alice", v) for i, v in enumerate(_watching("alice", "v1", True))]
    batcher.process(_TP(p), recs)
    asyncio.run(batcher.flush())  # stored: only the backing (RocksDB) has it now
    assert not stores["videos"].pending
    batcher.process(_TP(p), [_Rec(p, len(recs), b"alice", _erase("alice"))])
    assert proc.video(tables.video_key("alice", "v1")) is None
    assert stores["videos"].pending[tables.video_key("alice", "v1")] == DELETED


def test_events_after_the_erasure_start_the_user_afresh() -> None:
    stream = [
        *[(b"alice", v) for v in _watching("alice", "v1", stop=True)],
        (b"alice", _erase("alice")),
        (b"alice", _doc("alice", "start", 20, "v3", duration_s=3000.0)),
    ]
    proc, _, _ = _fold(stream)
    assert proc.video(tables.video_key("alice", "v1")) is None
    fresh = proc.video(tables.video_key("alice", "v3"))
    assert fresh is not None


def test_erasing_twice_or_a_stranger_changes_nothing_else() -> None:
    stream = [
        *[(b"bob", v) for v in _watching("bob", "v1", stop=True)],
        (b"carol", _erase("carol")),
        (b"carol", _erase("carol")),
    ]
    proc, _, _ = _fold(stream)
    assert proc.video(tables.video_key("bob", "v1")) is not None


def test_a_deleted_key_reads_as_absent_through_every_layer() -> None:
    wb = WriteBack({b"u|a": b"1", b"u|b": b"2", b"v|a": b"3"})
    wb[b"u|c"] = b"4"
    wb[b"u|a"] = DELETED
    assert wb.get(b"u|a") is None
    assert wb.keys_with_prefix(b"u|") == {b"u|b", b"u|c"}
    wb.begin()  # flushing now: still deleted
    assert wb.get(b"u|a") is None
    assert wb.keys_with_prefix(b"u|") == {b"u|b", b"u|c"}
