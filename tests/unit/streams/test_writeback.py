"""The write-back cache: reads see the newest write wherever it is, a failed flush keeps it."""

from __future__ import annotations

import pytest

from streams.writeback import WriteBack


def test_reads_see_pending_then_flushing_then_stored_values() -> None:
    stored = {b"a": b"1", b"b": b"1"}
    wb = WriteBack(stored)
    wb[b"a"] = b"2"
    snapshot = wb.begin()
    wb[b"b"] = b"3"
    assert (wb.get(b"a"), wb.get(b"b"), wb.get(b"c")) == (b"2", b"3", None)
    assert snapshot == {b"a": b"2"} and stored[b"a"] == b"1"
    stored.update(snapshot)
    wb.done()
    assert wb.get(b"a") == b"2" and len(wb) == 1


def test_an_aborted_flush_keeps_its_values_under_newer_writes() -> None:
    wb = WriteBack({})
    wb[b"a"], wb[b"b"] = b"1", b"1"
    wb.begin()
    wb[b"b"] = b"2"
    wb.abort()
    assert wb.begin() == {b"a": b"1", b"b": b"2"}


def test_only_one_flush_at_a_time() -> None:
    wb = WriteBack({})
    wb[b"a"] = b"1"
    wb.begin()
    with pytest.raises(RuntimeError):
        wb.begin()
