"""Who owns a video: the catalog's ``creator_id``, as the catalog is now (SPEC §6 scoping).

The summary API lets a creator token read only that creator's videos; this is the lookup it
asks. Same rule as the creator tables (docs/warehouse.md): ownership follows the catalog as it
is now, and a video without a catalog row or without a creator belongs to nobody.
"""

from __future__ import annotations

from warehouse.queries import Reader


def video_creator(reader: Reader, video_id: str) -> str | None:
    """The ``creator_id`` the catalog names for ``video_id`` now, or None."""
    found = reader.rows(
        f"SELECT creator_id FROM ({reader.relation('catalog')}) WHERE video_id = ?", [video_id]
    )
    return None if not found else found[0]["creator_id"]
