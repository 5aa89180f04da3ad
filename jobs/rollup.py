"""``watchflow rollup``: recompute the tier-2 tables for the days new or late data touched.

Every ``interval`` seconds it runs ``warehouse.rollups.run`` (which finds the dirty days in the
manifest, so nothing is lost between runs or across a crash: a day stays dirty until the commit
that recomputed it), logs what it did, and now and then deletes files a crashed writer left
behind (``Store.vacuum``). SIGINT/SIGTERM let the run in progress finish, then exit 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from jobs.settings import RollupSettings
from warehouse import rollups
from warehouse.errors import ManifestError, WarehouseError
from warehouse.rollups import RollupReport
from warehouse.store import Store

log = logging.getLogger("watchflow.rollup")


def describe(report: RollupReport) -> dict[str, object]:
    """What one run did, as log fields."""
    p = report.plan
    return {
        "version": report.version,
        "view_days": sorted(d.isoformat() for d in p.view_days),
        "local_days": len(p.local_days),
        "weeks": len(p.weeks),
        "months": len(p.months),
        "course_progress": p.course_progress,
        "rewritten": report.rewritten,
        "seconds": {k: round(v, 3) for k, v in report.seconds.items()},
    }


def run_once(store: Store, *, full: bool = False) -> RollupReport:
    """One rollup, logged."""
    t0 = time.perf_counter()
    report = rollups.run(store, full=full)
    took = round(time.perf_counter() - t0, 3)
    if report.version is None:
        log.debug("rollup: nothing dirty", extra={"took_s": took})
    else:
        log.info("rollup committed", extra={**describe(report), "took_s": took})
    return report


def loop(
    store: Store,
    settings: RollupSettings,
    stop: threading.Event,
    *,
    full: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run every ``rollup_interval_s`` until ``stop`` is set; ``full`` applies to the first run.

    A transient failure (a lock held by erase-user, a concurrent compaction) is logged and the
    next run retries: the dirty marks are still there.
    """
    last_vacuum = clock()
    while not stop.is_set():
        try:
            run_once(store, full=full)
            full = False
        except ManifestError:
            raise
        except WarehouseError as exc:
            log.warning("rollup failed, retrying next interval", extra={"error": str(exc)})
        if clock() - last_vacuum >= settings.vacuum_interval_s:
            last_vacuum = clock()
            removed = store.vacuum()
            if removed:
                log.info("vacuum removed orphan files", extra={"files": len(removed)})
        stop.wait(settings.rollup_interval_s)


def run(settings: RollupSettings, *, once: bool = False, full: bool = False) -> int:
    """The ``watchflow rollup`` process; its exit code."""
    try:
        store = Store.open(settings.data_dir, settings.warehouse_config())
        if once:
            run_once(store, full=full)
            return 0
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        log.info(
            "rollup started",
            extra={"warehouse": str(store.root), "interval_s": settings.rollup_interval_s},
        )
        loop(store, settings, stop, full=full)
    except WarehouseError as exc:
        log.error("rollup failed", extra={"error": str(exc)})
        return 1
    log.info("rollup stopped")
    return 0
