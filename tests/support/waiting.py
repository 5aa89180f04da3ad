"""Waiting, in tests, for something another process does."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(ok: Callable[[], bool], what: str, timeout_s: float = 45.0) -> None:
    """Return once ``ok()`` holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
