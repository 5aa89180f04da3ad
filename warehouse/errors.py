"""Errors of the warehouse package.

::

    WarehouseError             base: anything the warehouse raises on purpose
    ├── ManifestError          the manifest is missing, unreadable or of another format
    │                          (terminal)
    ├── ConcurrentChangeError  a file we meant to replace was replaced by another writer
    │                          (transient: re-read the manifest and retry)
    └── LockTimeout            another process holds a warehouse lock too long (transient)

Transient errors mean "retry, do not commit the Kafka offset"; terminal ones need an operator.
"""

from __future__ import annotations


class WarehouseError(Exception):
    """Base of every error the warehouse raises on purpose."""


class ManifestError(WarehouseError):
    """The manifest cannot be used; ``path`` says which file."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ConcurrentChangeError(WarehouseError):
    """A file this writer read was replaced or removed by another writer before it committed."""

    def __init__(self, table: str, key: str, path: str) -> None:
        super().__init__(f"{table}[{key}]: {path} changed under us; retry")
        self.table = table
        self.key = key
        self.path = path


class LockTimeout(WarehouseError):
    """A warehouse lock stayed busy for ``waited_s`` seconds."""

    def __init__(self, lock: str, waited_s: float) -> None:
        super().__init__(f"lock {lock} still busy after {waited_s:g} s")
        self.lock = lock
        self.waited_s = waited_s
