"""How a rollup shares the cores: the video chain yields to the user chain (the critical
path), and the chain still running gets DuckDB's whole pool once the other ends."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from warehouse import priority
from warehouse.store import Store
from warehouse.workspace import Workspace


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")
def test_the_yielding_thread_alone_loses_priority() -> None:
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[int] = []

    def chain() -> None:
        priority.yield_cpu()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    t = threading.Thread(target=chain)
    t.start()
    t.join()
    assert seen == [min(19, main + priority.VIDEO_CHAIN_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main


def test_first_done_runs_on_the_caller_once_a_chain_has_ended(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    ws = Workspace(store, store.manifest(), {})
    release = threading.Event()
    log: list[str] = []

    def quick() -> None:
        log.append("quick")

    def slow() -> None:
        assert release.wait(10)
        log.append("slow")

    def first_done() -> None:
        assert threading.current_thread() is threading.main_thread()
        log.append("first_done")
        release.set()

    try:
        ws.parallel(quick, slow, first_done=first_done)
    finally:
        ws.close()
    assert log == ["quick", "first_done", "slow"]
