"""Live watch state (SPEC §6): video state, continue watching, next up, history.

Each route checks the read token's scope, then asks the stream workers (``LiveState``).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response

from ingest_api.deps import ScopeDep, ServicesDep, require_user

router = APIRouter()


DeviceId = Annotated[str | None, Query(min_length=1, max_length=128)]
Limit = Annotated[int, Query(ge=1, le=200)]


async def _ask(services: ServicesDep, path: str, **params: str | int | None) -> Response:
    wanted = {k: str(v) for k, v in params.items() if v is not None}
    status, body = await services.live.get(path, wanted)
    return Response(body, status_code=status, media_type="application/json")


def _user(user_id: str) -> str:
    return "/state/users/" + quote(user_id, safe="")


@router.get("/v1/users/{user_id}/videos/{video_id}")
async def video_state(
    user_id: str, video_id: str, scope: ScopeDep, services: ServicesDep, device_id: DeviceId = None
) -> Response:
    require_user(scope, user_id)
    path = f"{_user(user_id)}/videos/{quote(video_id, safe='')}"
    return await _ask(services, path, device_id=device_id)


@router.get("/v1/users/{user_id}/continue-watching")
async def continue_watching(
    user_id: str,
    scope: ScopeDep,
    services: ServicesDep,
    device_id: DeviceId = None,
    limit: Limit = 20,
) -> Response:
    require_user(scope, user_id)
    return await _ask(
        services, f"{_user(user_id)}/continue-watching", device_id=device_id, limit=limit
    )


@router.get("/v1/users/{user_id}/next-up")
async def next_up(
    user_id: str,
    scope: ScopeDep,
    services: ServicesDep,
    device_id: DeviceId = None,
    limit: Limit = 20,
) -> Response:
    require_user(scope, user_id)
    return await _ask(services, f"{_user(user_id)}/next-up", device_id=device_id, limit=limit)


@router.get("/v1/users/{user_id}/history")
async def history(
    user_id: str, scope: ScopeDep, services: ServicesDep, limit: Limit = 50
) -> Response:
    require_user(scope, user_id)
    return await _ask(services, f"{_user(user_id)}/history", limit=limit)
