"""The manifest: which Parquet files make up each table right now, and which days are dirty.

A warehouse snapshot is one manifest version. Data files are immutable and uniquely named;
writers add a file by writing it first and then committing a manifest that lists it, and replace
a partition by committing a manifest that lists the new file instead of the old one. Readers
only ever read files some manifest listed, so a half-written file or a half-applied batch is
never visible. Files a commit drops go to ``trash`` with the time they left, and are deleted once
no reader can still hold a snapshot that lists them (the store's ``snapshot_ttl_s``).

``dirty`` is the rollup's to-do list, committed in the same manifest as the data that caused it:
``dirty[kind][key] = version`` says "tier-1 data of this kind for this key (an ISO date) changed
in that version". The rollup clears a mark only if nobody re-marked it after the snapshot it
computed from, so a day touched while a rollup runs is recomputed by the next one.

``opaque`` holds the marks whose change is *not* fully described by the ``_view_touches`` rows
committed with it (the sink's ``write_batch`` records which views it may have changed; erase,
the synthetic generator and any other writer do not). The rollup may check a day's views
incrementally only if no mark behind that day is opaque.

This module is pure: JSON in, JSON out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

FORMAT = 1
UNPARTITIONED = ""


class DirtyKind(StrEnum):
    """What changed in tier 1, so the rollup knows which tier-2 partitions to recompute."""

    SESSIONS = "sessions"  # key: UTC date of started_at
    VIEW_EVENTS = "view_events"  # key: UTC date of a start/play event
    PREFS = "prefs"  # key: UTC date of a set_preferences event
    MILESTONES = "milestones"  # key: UTC date of ts
    CATALOG = "catalog"  # key: "" (the rollup diffs the catalog itself)


@dataclass(frozen=True, slots=True)
class DataFile:
    path: str  # relative to the warehouse root, POSIX separators
    rows: int
    # A patch (``warehouse.patches``): its rows replace, in its partition, every row of the
    # other files whose value of this column it lists. None: a plain file of rows.
    scope: str | None = None
    # A patch none of whose scope values the plain files hold: it only adds rows, and readers
    # may skip matching it against them.
    adds: bool = False


@dataclass(slots=True)
class Manifest:
    version: int = 0
    committed_at: float = 0.0
    tables: dict[str, dict[str, list[DataFile]]] = field(default_factory=dict)
    dirty: dict[str, dict[str, int]] = field(default_factory=dict)
    trash: dict[str, float] = field(default_factory=dict)
    opaque: dict[str, dict[str, int]] = field(default_factory=dict)

    # -- reading -------------------------------------------------------------------------------
    def keys(self, table: str) -> list[str]:
        return sorted(self.tables.get(table, {}))

    def files(self, table: str, keys: Iterable[str] | None = None) -> list[DataFile]:
        parts = self.tables.get(table, {})
        chosen = sorted(parts) if keys is None else sorted(k for k in set(keys) if k in parts)
        return [f for k in chosen for f in parts[k]]

    def partition(self, table: str, key: str) -> list[DataFile]:
        return list(self.tables.get(table, {}).get(key, []))

    def all_paths(self) -> set[str]:
        return {f.path for parts in self.tables.values() for fs in parts.values() for f in fs}

    def marks(self, kind: DirtyKind) -> dict[str, int]:
        return dict(self.dirty.get(kind.value, {}))

    def tracked(self, kind: DirtyKind, key: str) -> bool:
        """Whether every change behind mark ``kind``/``key`` left its ``_view_touches`` rows."""
        return key not in self.opaque.get(kind.value, {})

    # -- editing (inside Store.commit, on a private copy) -------------------------------------
    def add_file(self, table: str, key: str, f: DataFile) -> None:
        self.tables.setdefault(table, {}).setdefault(key, []).append(f)

    def set_partition(self, table: str, key: str, files: list[DataFile]) -> None:
        """Replace a partition; an empty list removes it."""
        parts = self.tables.setdefault(table, {})
        if files:
            parts[key] = list(files)
        else:
            parts.pop(key, None)

    def mark(self, kind: DirtyKind, key: str, *, touches: bool = False) -> None:
        """Mark ``key`` dirty as of this (the version being committed). ``touches``: the same
        commit lists every (user_id, session_id) whose views this change may alter in
        ``_view_touches`` (only the sink's batches do); otherwise the mark is opaque."""
        self.dirty.setdefault(kind.value, {})[key] = self.version
        if not touches:
            self.opaque.setdefault(kind.value, {})[key] = self.version

    def clear(self, kind: DirtyKind, done: Mapping[str, int]) -> None:
        """Drop marks the rollup handled: those not re-marked after the version it read."""
        for book in (self.dirty, self.opaque):
            marks = book.get(kind.value, {})
            for key, seen in done.items():
                if key in marks and marks[key] <= seen:
                    del marks[key]
            if not marks:
                book.pop(kind.value, None)

    def copy(self) -> Manifest:
        return Manifest(
            version=self.version,
            committed_at=self.committed_at,
            tables={t: {k: list(fs) for k, fs in p.items()} for t, p in self.tables.items()},
            dirty={k: dict(v) for k, v in self.dirty.items()},
            trash=dict(self.trash),
            opaque={k: dict(v) for k, v in self.opaque.items()},
        )

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "version": self.version,
            "committed_at": self.committed_at,
            "tables": {
                t: {k: [_file_json(f) for f in fs] for k, fs in sorted(p.items())}
                for t, p in sorted(self.tables.items())
            },
            "dirty": self.dirty,
            "opaque": self.opaque,
            "trash": self.trash,
        }
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        doc = orjson.loads(raw)
        if doc.get("format") != FORMAT:
            raise ValueError(f"manifest format {doc.get('format')!r}, expected {FORMAT}")
        dirty = {k: {d: int(v) for d, v in m.items()} for k, m in doc["dirty"].items()}
        # a manifest written before ``opaque`` existed: none of its marks left touches
        opaque = doc.get("opaque", dirty)
        return cls(
            version=int(doc["version"]),
            committed_at=float(doc["committed_at"]),
            tables={
                t: {k: [_file_from_json(f) for f in fs] for k, fs in parts.items()}
                for t, parts in doc["tables"].items()
            },
            dirty=dirty,
            trash={p: float(t) for p, t in doc["trash"].items()},
            opaque={k: {d: int(v) for d, v in m.items()} for k, m in opaque.items()},
        )


def _file_json(f: DataFile) -> list[Any]:
    if f.scope is None:
        return [f.path, f.rows]
    return [f.path, f.rows, f.scope, f.adds]


def _file_from_json(doc: list[Any]) -> DataFile:
    if len(doc) < 3:
        return DataFile(str(doc[0]), int(doc[1]))
    return DataFile(str(doc[0]), int(doc[1]), str(doc[2]), bool(doc[3]))
