"""``watchflow erase-user``: remove one user from the warehouse (GDPR, SPEC §7) and say what
was removed, and what was not.

Tier 1 and tier 2 are erased here (``warehouse.erase.erase_user``). Two copies of the user's
data are out of this command's reach and are reported as such, so nobody reads the output as
"gone everywhere":

- the stream workers' live state (watch state, devices, history tables and their changelog
  topics): the wire contract has no erase record the worker could act on yet;
- the Kafka log itself (player-events, watch-milestones, watch-sessions) until retention
  deletes it: a replay before then would bring the user back.
"""

from __future__ import annotations

from typing import Any

from warehouse.erase import erase_user
from warehouse.store import Store

NOT_ERASED = {
    "live_state": "not erased: the stream workers' tables (videos, users, history) and their "
    "changelog topics still hold this user; the wire contract has no erase record yet",
    "kafka_log": "not erased: player-events, watch-milestones and watch-sessions keep the "
    "user's records until retention; a replay before then would restore them",
}


def erase(store: Store, user_id: str) -> dict[str, Any]:
    """Erase ``user_id`` from the warehouse; the JSON-ready report of what was removed."""
    report = erase_user(store, user_id)
    return {**report.as_dict(), "not_erased": NOT_ERASED}
