"""Live reads over HTTP (``/state/users/...``), answered by the worker that owns the user.

Any worker takes any request. The owner of a user is the worker holding the user's
partition of player-events (the same partition as the user's tables). A worker that is not
the owner forwards the request once to the owner's URL from Faust's assignment metadata
(``app.router.key_store`` on the ``users`` table, whose key bytes are the user id, so the
table's partitioning and Kafka's agree) and marks it forwarded; a forwarded request that
still does not land on the owner, or any read during a rebalance or recovery, is answered
503 with Retry-After — the API then tries another worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
import orjson
from faust.types import TP

from ingest_api.contract import TOPIC_PLAYER_EVENTS
from streams import live_state, tables
from streams.processor import Processor

FORWARDED = "X-Watchflow-Forwarded"
SERVED_BY = "X-Watchflow-Worker"  # the owner that answered (for operators and tests)
JSON = "application/json"


def _limit(request: Any, default: int) -> int:
    try:
        n = int(request.query.get("limit", default))
    except ValueError:
        return default
    return max(1, min(n, 200))


def _device(request: Any) -> str | None:
    d = request.query.get("device_id")
    return d if d else None


def install(app: faust.App, proc: Processor, users_table: Any) -> None:
    """Define the ``/state/users/...`` pages on ``app``'s web server."""
    me = app.conf.canonical_url
    me_header = {SERVED_BY: str(me)}

    def unavailable(web: Any, why: str) -> Any:
        body = orjson.dumps({"error": f"live state: {why}"})
        return web.bytes(body, content_type=JSON, status=503, headers={"Retry-After": "1"})

    def answer(web: Any, doc: dict[str, Any]) -> Any:
        return web.bytes(orjson.dumps(doc), content_type=JSON, headers=dict(me_header))

    async def route(web: Any, request: Any, user_id: str, local: Callable[[], Any]) -> Any:
        if app.rebalancing or getattr(app, "in_recovery", False):
            return unavailable(web, "rebalancing")
        uid = user_id.encode()
        p = tables.partition_of(uid, proc.partitions)
        if TP(TOPIC_PLAYER_EVENTS, p) in app.assignor.assigned_actives():
            return answer(web, local())
        if request.headers.get(FORWARDED):
            return unavailable(web, "owner moved")
        try:
            owner = app.router.key_store(users_table.name, uid)
        except (KeyError, TypeError):
            # TypeError: at start the producer has no metadata for the changelog yet.
            return unavailable(web, "no owner known")
        if (owner.host, owner.port) == (me.host, me.port):
            return unavailable(web, "assignment not settled")
        url = request.url.with_host(owner.host).with_port(owner.port)
        try:
            async with app.http_client.get(url, headers={FORWARDED: "1"}) as resp:
                body = await resp.read()
                served = {SERVED_BY: resp.headers.get(SERVED_BY, str(owner))}
                return web.bytes(body, content_type=JSON, status=resp.status, headers=served)
        except Exception as exc:  # the owner is down or unreachable: transient
            return unavailable(web, f"owner unreachable ({type(exc).__name__})")

    def states_of(user_id: str) -> Callable[[str], Any]:
        return lambda video_id: proc.video(tables.video_key(user_id, video_id))

    @app.page("/state/users/{user_id}/videos/{video_id}")
    async def video(web: Any, request: Any, user_id: str, video_id: str) -> Any:
        def local() -> dict[str, Any]:
            st = proc.video(tables.video_key(user_id, video_id))
            device = _device(request)
            user = proc.user(user_id.encode()) if device is not None else None
            return live_state.video(user_id, video_id, st, user, device)

        return await route(web, request, user_id, local)

    @app.page("/state/users/{user_id}/continue-watching")
    async def resume(web: Any, request: Any, user_id: str) -> Any:
        def local() -> dict[str, Any]:
            return live_state.resume_list(
                user_id,
                proc.user(user_id.encode()),
                _device(request),
                states_of(user_id),
                proc.catalog,
                proc.rules,
                _limit(request, 20),
            )

        return await route(web, request, user_id, local)

    @app.page("/state/users/{user_id}/next-up")
    async def up_next(web: Any, request: Any, user_id: str) -> Any:
        def local() -> dict[str, Any]:
            return live_state.up_next(
                user_id,
                proc.user(user_id.encode()),
                _device(request),
                states_of(user_id),
                proc.catalog,
                proc.rules,
                _limit(request, 20),
            )

        return await route(web, request, user_id, local)

    @app.page("/state/users/{user_id}/history")
    async def history(web: Any, request: Any, user_id: str) -> Any:
        def local() -> dict[str, Any]:
            sessions = proc.sessions_of(user_id.encode())
            return live_state.history(user_id, sessions, _limit(request, 50))

        return await route(web, request, user_id, local)
