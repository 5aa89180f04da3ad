"""The hot path's own timings (``streams.latency``): what ``/stats/hot-path`` answers."""

from __future__ import annotations

import gc

from streams.latency import HotPathStats


def test_quantiles_cover_only_the_samples_since_the_time_asked() -> None:
    now = [100.0]
    stats = HotPathStats(clock=lambda: now[0])
    stats.add("fold_ms", 999.0)  # before the window
    now[0] = 200.0
    for v in range(1, 101):
        stats.add("fold_ms", float(v))
    got = stats.summary(since=150.0)["fold_ms"]
    assert got["count"] == 100
    assert (got["p50"], got["p99"], got["max"]) == (51.0, 100.0, 100.0)
    assert stats.summary(since=300.0) == {}


def test_only_the_latest_samples_are_kept() -> None:
    stats = HotPathStats(keep=10, clock=lambda: 1.0)
    for v in range(100):
        stats.add("flush_ms", float(v))
    assert stats.summary()["flush_ms"]["count"] == 10
    assert stats.summary()["flush_ms"]["max"] == 99.0


def test_garbage_collection_pauses_are_sampled_by_generation_until_unhooked() -> None:
    stats = HotPathStats()
    stop = stats.watch_gc()
    try:
        gc.collect(1)
        gc.collect(2)
    finally:
        stop()
    got = stats.summary()
    assert got["gc1_ms"]["count"] >= 1 and got["gc2_ms"]["count"] >= 1
    assert got["gc2_ms"]["max"] >= 0
    gc.collect(2)  # unhooked: no more samples
    assert stats.summary()["gc2_ms"]["count"] == got["gc2_ms"]["count"]
