"""The worker keeps what outlives a flush out of the cyclic collector's scans, and still
collects cyclic garbage in full once the input is quiet (or after a bound under load)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.collector import Collector


class FakeGc:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def freeze(self) -> None:
        self.calls.append("freeze")

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")

    def collect(self) -> int:
        self.calls.append("collect")
        return 7


def _collector(fake: FakeGc) -> Collector:
    return Collector(0.0, quiet_s=5, full_every_s=600, longest_s=3600, collector=fake)


def test_a_flush_freezes_what_is_alive() -> None:
    fake = FakeGc()
    _collector(fake).flushed()
    assert fake.calls == ["freeze"]


def test_the_full_collection_waits_for_a_quiet_input() -> None:
    fake = FakeGc()
    c = _collector(fake)
    folded = 0
    for now in range(0, 700):  # events every second: never quiet for 5 s
        folded += 100
        assert c.tick(float(now), folded) is None
    for now in range(700, 704):  # quiet, but not for 5 s yet
        assert c.tick(float(now), folded) is None
    assert fake.calls == []
    assert c.tick(705.0, folded) == 7
    assert fake.calls == ["unfreeze", "collect", "freeze"]


def test_a_quiet_input_is_collected_at_most_every_full_every_s() -> None:
    fake = FakeGc()
    c = _collector(fake)
    assert [now for now in range(0, 1500) if c.tick(float(now), 42) is not None] == [600, 1200]


def test_under_load_that_never_lets_up_the_full_collection_comes_after_longest_s() -> None:
    fake = FakeGc()
    c = _collector(fake)
    ran = [now for now in range(0, 8000) if c.tick(float(now), now) is not None]
    assert ran == [3600, 7200]


@pytest.fixture
def real_gc() -> Iterator[None]:
    """The process's own collector, automatic collections off (they would take the garbage
    before the test's flush does)."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()
    gc.unfreeze()
    gc.collect()


def _cycles(n: int) -> None:
    for _ in range(n):
        a: list[object] = []
        b: list[object] = [a]
        a.append(b)


@pytest.mark.usefixtures("real_gc")
def test_cyclic_garbage_frozen_by_a_flush_is_still_collected_in_full() -> None:
    c = Collector(0.0)
    _cycles(1000)  # garbage only the cyclic collector can free
    c.flushed()
    assert gc.get_freeze_count() > 0
    assert gc.collect() < 2000  # frozen: a plain collection no longer sees them
    assert c.full(1.0) >= 2000
    assert gc.get_freeze_count() > 0  # the rest is frozen again
