"""A small catalog for tests: two series on a TV shelf, three movies on a movie shelf."""

from __future__ import annotations

from streams.model.catalog import Catalog, VideoMeta


def episode(
    series: str, season: int, ep: int, shelf: str = "tv", duration: float = 1800.0
) -> VideoMeta:
    return VideoMeta(f"{series}-s{season}e{ep}", duration, series, season, ep, shelf)


def library() -> Catalog:
    return Catalog(
        [
            *(episode("got", 1, e) for e in (1, 2, 3)),
            *(episode("got", 2, e) for e in (1, 2)),
            *(episode("bb", 1, e) for e in (1, 2)),
            *(VideoMeta(f"m{i}", 5400.0, shelf_id="movies") for i in (1, 2, 3)),
            VideoMeta("short", 120.0),
        ]
    )
