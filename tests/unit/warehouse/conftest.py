from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from warehouse.store import Store

from .wh_builders import analyst


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path)


@pytest.fixture
def q(store: Store):  # type: ignore[no-untyped-def]
    def run(sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        return analyst(store, sql, params)

    return run
