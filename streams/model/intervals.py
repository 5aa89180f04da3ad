"""Sorted, disjoint media intervals in integer milliseconds: what has been played.

An ``Intervals`` value is a tuple of ``(start, end)`` pairs with ``start < end``, sorted, and
no two touching or overlapping (touching pairs are merged), so its length is the number of
distinct media milliseconds covered (SPEC §4.1 coverage; Snowplow's ``contentWatched``).
Integers keep sums exact, so a state rebuilt from a snapshot equals one computed live.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

Interval = tuple[int, int]
Intervals = tuple[Interval, ...]

EMPTY: Intervals = ()


def add(ivs: Intervals, a: int, b: int) -> tuple[Intervals, int]:
    """Return ``ivs ∪ [a, b)`` and how many milliseconds that newly covered."""
    if b <= a:
        return ivs, 0
    if not ivs:
        return ((a, b),), b - a
    la, lb = ivs[-1]
    if a >= la:
        # Playback moves forward, so nearly every call extends or follows the last interval.
        if a > lb:
            return (*ivs, (a, b)), b - a
        if b <= lb:
            return ivs, 0
        return (*ivs[:-1], (la, b)), b - lb
    # Absorb every interval that overlaps or touches [a, b).
    lo = bisect_left(ivs, a, key=_end)
    hi = bisect_right(ivs, b, key=_start)
    if lo == hi:
        return (*ivs[:lo], (a, b), *ivs[hi:]), b - a
    absorbed = ivs[lo:hi]
    na = min(a, absorbed[0][0])
    nb = max(b, absorbed[-1][1])
    added = (nb - na) - length(absorbed)
    return (*ivs[:lo], (na, nb), *ivs[hi:]), added


def _start(iv: Interval) -> int:
    return iv[0]


def _end(iv: Interval) -> int:
    return iv[1]


def union(x: Intervals, y: Intervals) -> Intervals:
    """Return the union of two interval sets."""
    if not y:
        return x
    if not x:
        return y
    out: list[Interval] = []
    for a, b in sorted((*x, *y)):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return tuple(out)


def length(ivs: Intervals) -> int:
    """Milliseconds covered."""
    return sum(b - a for a, b in ivs)


def covered(ivs: Intervals, a: int, b: int) -> int:
    """Milliseconds of the bucket ``[a, b)`` that ``ivs`` covers (retention curves)."""
    total = 0
    for x, y in ivs:
        if y <= a:
            continue
        if x >= b:
            break
        total += min(y, b) - max(x, a)
    return total


def clip(ivs: Intervals, lo: int, hi: int) -> Intervals:
    """Return ``ivs`` restricted to ``[lo, hi)`` (e.g. to a duration that shrank)."""
    out = tuple((max(a, lo), min(b, hi)) for a, b in ivs if b > lo and a < hi)
    return tuple(iv for iv in out if iv[1] > iv[0])


def cap(ivs: Intervals, max_count: int) -> tuple[Intervals, int]:
    """Merge the closest neighbours until at most ``max_count`` intervals remain.

    Returns the intervals and the milliseconds the filled gaps added. This keeps state bounded
    for viewers who hop around a long video; each merge fills the smallest gap, so the error is
    as small as the bound allows.
    """
    if len(ivs) <= max_count or max_count < 1:
        return ivs, 0
    out = list(ivs)
    added = 0
    while len(out) > max_count:
        i = min(range(len(out) - 1), key=lambda j: out[j + 1][0] - out[j][1])
        added += out[i + 1][0] - out[i][1]
        out[i : i + 2] = [(out[i][0], out[i + 1][1])]
    return tuple(out), added
