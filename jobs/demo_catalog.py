"""The demo catalog: films, series, courses and shorts from a handful of creators.

Built deterministically (the same videos, ids, durations and chapters on every call), so a
simulated audience, the demo and the tests all agree on what exists. ``Catalog`` is the plain
value the audience model reads; ``CatalogEntry.catalog_doc()`` is what ``POST
/v1/catalog/videos`` receives and ``CatalogEntry.video_info()`` what a ``start`` event carries.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    FILM = "film"
    EPISODE = "episode"
    LESSON = "lesson"
    SHORT = "short"


@dataclass(frozen=True, slots=True)
class ChapterMark:
    title: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    video_id: str
    kind: Kind
    title: str
    duration_s: float
    source_type: str
    creator_id: str
    channel: str
    tags: tuple[str, ...] = ()
    shelf_id: str | None = None
    series_id: str | None = None
    season: int | None = None
    episode: int | None = None
    course_id: str | None = None
    module_id: str | None = None
    lesson_order: int | None = None
    required: bool | None = None
    chapters: tuple[ChapterMark, ...] = ()

    @property
    def sequence_id(self) -> str | None:
        """The series or course this video belongs to, if any."""
        return self.series_id or self.course_id

    def video_info(self) -> dict[str, Any]:
        """The ``video`` object of a ``start`` event (SPEC §3)."""
        doc: dict[str, Any] = {
            "title": self.title,
            "source_type": self.source_type,
            "source_id": f"{self.source_type}-{self.video_id}",
            "creator_id": self.creator_id,
            "channel": self.channel,
            "tags": list(self.tags),
        }
        for name in (
            "shelf_id",
            "series_id",
            "season",
            "episode",
            "course_id",
            "module_id",
            "lesson_order",
        ):
            value = getattr(self, name)
            if value is not None:
                doc[name] = value
        return doc

    def catalog_doc(self) -> dict[str, Any]:
        """One item of ``POST /v1/catalog/videos``: the video fields, duration and chapters."""
        doc = {"video_id": self.video_id, "duration_s": self.duration_s, **self.video_info()}
        if self.chapters:
            doc["chapters"] = [
                {"title": c.title, "start_s": c.start_s, "end_s": c.end_s} for c in self.chapters
            ]
        if self.required is not None:
            doc["required"] = self.required
        return doc


class Catalog:
    """Videos by id, by kind, and in watching order within each series and course."""

    def __init__(self, videos: Iterable[CatalogEntry]) -> None:
        self.videos: tuple[CatalogEntry, ...] = tuple(videos)
        self._by_id = {v.video_id: v for v in self.videos}
        if len(self._by_id) != len(self.videos):
            raise ValueError("catalog video ids must be unique")
        self._by_kind: dict[Kind, tuple[CatalogEntry, ...]] = {
            kind: tuple(v for v in self.videos if v.kind is kind) for kind in Kind
        }
        sequences: dict[str, list[CatalogEntry]] = {}
        for v in self.videos:
            if v.sequence_id is not None:
                sequences.setdefault(v.sequence_id, []).append(v)
        self._sequences = {
            sid: tuple(sorted(vs, key=_order)) for sid, vs in sorted(sequences.items())
        }
        self._next: dict[str, CatalogEntry] = {}
        for seq in self._sequences.values():
            for a, b in itertools.pairwise(seq):
                self._next[a.video_id] = b

    def __len__(self) -> int:
        return len(self.videos)

    def get(self, video_id: str) -> CatalogEntry:
        return self._by_id[video_id]

    def of_kind(self, kind: Kind) -> tuple[CatalogEntry, ...]:
        return self._by_kind[kind]

    def sequence(self, sequence_id: str) -> tuple[CatalogEntry, ...]:
        """A series' episodes by (season, episode), or a course's lessons in order."""
        return self._sequences[sequence_id]

    def next_after(self, video_id: str) -> CatalogEntry | None:
        """The next episode or lesson, or None at the end (and for films and shorts)."""
        return self._next.get(video_id)

    def seasons(self) -> list[tuple[str, int]]:
        """Every (series_id, season) pair."""
        return sorted({(v.series_id, v.season) for v in self.videos if v.series_id and v.season})


def _order(v: CatalogEntry) -> tuple[int, int, int]:
    return (v.season or 0, v.episode or 0, v.lesson_order or 0)


_FILMS = (
    ("The Salt Road", ("drama", "history")),
    ("Paper Moons", ("drama", "romance")),
    ("Northbound", ("thriller",)),
    ("A Quiet Engine", ("drama", "family")),
    ("The Cartographer's Daughter", ("adventure",)),
    ("Low Tide", ("thriller", "mystery")),
    ("Winter Orchard", ("drama",)),
    ("Signal Lost", ("sci-fi", "thriller")),
)
_DOCS = (
    ("Rivers Without Maps", ("documentary", "nature")),
    ("The Last Lamplighters", ("documentary", "history")),
    ("Glass and Fire", ("documentary", "craft")),
)
# series id, title, seasons, episodes per season, minutes (shortest, longest), tags
_SERIES = (
    ("lighthouse", "The Lighthouse Keepers", 2, 8, (42, 56), ("drama",)),
    ("nightshift", "Night Shift", 3, 6, (21, 28), ("comedy",)),
    ("orbit", "Orbit", 1, 8, (44, 58), ("sci-fi",)),
)
# course id, title, lessons in each module, minutes (shortest, longest), tags
_COURSES = (
    ("py-data", "Python for Data Analysis", (4, 4, 5, 3), (6, 18), ("python", "data")),
    ("streaming-101", "Streaming Systems 101", (3, 4, 4), (8, 20), ("kafka", "systems")),
    ("watercolour", "Watercolour Basics", (3, 3, 3), (5, 14), ("art",)),
)
_SHORT_TOPICS = (
    "git rebase in 4 minutes",
    "Why your soufflé falls",
    "DuckDB window functions",
    "Three knots every sailor knows",
    "The 20-second pan sauce",
    "What is a Kafka partition?",
    "Sharpening a chef's knife",
    "Reading a topographic map",
    "CSS grid, the short version",
    "Brewing pour-over coffee",
    "Tiny habit: the two-minute rule",
    "How lenses bend light",
    "Make a sourdough starter",
    "Regex lookaheads explained",
    "Fold a fitted sheet",
    "The Monty Hall problem",
    "Polars lazy frames",
    "Stretch for desk workers",
    "How noise-cancelling works",
    "One-pan lemon pasta",
)


def build_demo_catalog() -> Catalog:
    """The demo catalog: about 120 videos from six creators; the same on every call."""
    rng = random.Random(2026)
    videos: list[CatalogEntry] = []

    for i, (title, tags) in enumerate(_FILMS):
        minutes = rng.randint(84, 119)
        videos.append(
            CatalogEntry(
                video_id=f"film-{i + 1:02d}",
                kind=Kind.FILM,
                title=title,
                duration_s=float(minutes * 60 + rng.randint(0, 59)),
                source_type=rng.choice(("mux", "upload")),
                creator_id="cr-northlight",
                channel="Northlight Pictures",
                tags=("film", *tags),
                shelf_id="shelf-films",
            )
        )
    for i, (title, tags) in enumerate(_DOCS):
        duration = float(rng.randint(88, 120) * 60)
        names = ("Opening", "The Source", "Upstream", "The Turn", "Downstream", "Afterword")
        videos.append(
            CatalogEntry(
                video_id=f"doc-{i + 1:02d}",
                kind=Kind.FILM,
                title=title,
                duration_s=min(duration, 7200.0),
                source_type="vimeo",
                creator_id="cr-fieldnotes",
                channel="Field Notes",
                tags=tags,
                shelf_id="shelf-documentaries",
                chapters=_chapters(rng, min(duration, 7200.0), names),
            )
        )

    for sid, title, seasons, per_season, (lo, hi), tags in _SERIES:
        for season in range(1, seasons + 1):
            for ep in range(1, per_season + 1):
                videos.append(
                    CatalogEntry(
                        video_id=f"{sid}-s{season:02d}e{ep:02d}",
                        kind=Kind.EPISODE,
                        title=f"{title} S{season}E{ep}",
                        duration_s=float(rng.randint(lo * 60, hi * 60)),
                        source_type="mux",
                        creator_id="cr-harbor",
                        channel="Harbor Street Studios",
                        tags=("series", *tags),
                        shelf_id="shelf-harbor-originals",
                        series_id=f"series-{sid}",
                        season=season,
                        episode=ep,
                    )
                )
    # A cooking series with a chapter per step of the recipe.
    for ep in range(1, 11):
        duration = float(rng.randint(17 * 60, 26 * 60))
        videos.append(
            CatalogEntry(
                video_id=f"saltember-s01e{ep:02d}",
                kind=Kind.EPISODE,
                title=f"Salt & Ember, episode {ep}",
                duration_s=duration,
                source_type="youtube",
                creator_id="cr-saltember",
                channel="Salt & Ember",
                tags=("cooking", "series"),
                series_id="series-saltember",
                season=1,
                episode=ep,
                chapters=_chapters(rng, duration, ("Ingredients", "Prep", "Cook", "Plate")),
            )
        )

    for cid, title, modules, (lo, hi), tags in _COURSES:
        order = 0
        for m, lessons in enumerate(modules, start=1):
            for lesson in range(1, lessons + 1):
                order += 1
                duration = float(rng.randint(lo * 60, hi * 60))
                with_chapters = rng.random() < 0.6
                videos.append(
                    CatalogEntry(
                        video_id=f"{cid}-m{m}-l{lesson}",
                        kind=Kind.LESSON,
                        title=f"{title}: module {m}, lesson {lesson}",
                        duration_s=duration,
                        source_type=rng.choice(("wistia", "vimeo", "loom")),
                        creator_id="cr-adabyte",
                        channel="Ada Byte Academy",
                        tags=("course", *tags),
                        course_id=f"course-{cid}",
                        module_id=f"course-{cid}-m{m}",
                        lesson_order=order,
                        # The last lesson of a long module is an optional extra.
                        required=not (lesson == lessons and lessons >= 4),
                        chapters=(
                            _chapters(rng, duration, ("Overview", "Walkthrough", "Exercise"))
                            if with_chapters
                            else ()
                        ),
                    )
                )

    for i, topic in enumerate(_SHORT_TOPICS):
        cooking = any(w in topic.lower() for w in ("sauce", "pasta", "sourdough", "coffee"))
        videos.append(
            CatalogEntry(
                video_id=f"short-{i + 1:02d}",
                kind=Kind.SHORT,
                title=topic,
                duration_s=float(rng.randint(180, 480)),
                source_type=rng.choice(("youtube", "youtube", "loom")),
                creator_id="cr-saltember" if cooking else "cr-quickbits",
                channel="Salt & Ember" if cooking else "Quick Bits",
                tags=("short", "cooking" if cooking else "howto"),
            )
        )
    return Catalog(videos)


def _chapters(
    rng: random.Random, duration: float, names: tuple[str, ...]
) -> tuple[ChapterMark, ...]:
    """Chapters covering the whole video, with boundaries at uneven but whole seconds."""
    weights = [rng.uniform(0.6, 1.4) for _ in names]
    total = sum(weights)
    marks: list[ChapterMark] = []
    start = 0.0
    for i, (name, w) in enumerate(zip(names, weights, strict=True)):
        end = duration if i == len(names) - 1 else float(round(start + duration * w / total))
        marks.append(ChapterMark(name, start, end))
        start = end
    return tuple(marks)
