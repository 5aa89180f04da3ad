"""The dashboard page (SPEC §6 ``GET /dashboard``) and what it needs to know about its token.

The page is static (``ingest_api/static/``: HTML, CSS and ES modules, no third-party code);
it asks the summary API with the read token the user gives it, so it sees exactly what that
token may see. The Content-Security-Policy keeps every byte it loads on this origin.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, Response

from ingest_api.deps import ScopeDep
from ingest_api.errors import RequestRejected

router = APIRouter()

_ASSETS = {
    "dashboard.html": "text/html; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "panels.js": "text/javascript; charset=utf-8",
}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    # The page accepts ?token=; never send it on in a Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@cache
def _asset(name: str) -> bytes:
    return (resources.files("ingest_api") / "static" / name).read_bytes()


def _serve(name: str) -> Response:
    return Response(_asset(name), media_type=_ASSETS[name], headers=_HEADERS)


@router.get("/dashboard", include_in_schema=False)
async def dashboard() -> Response:
    return _serve("dashboard.html")


@router.get("/dashboard/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in _ASSETS or name == "dashboard.html":
        raise RequestRejected(404, "dashboard: no such file")
    return _serve(name)


@router.get("/v1/me")
async def me(scope: ScopeDep) -> dict[str, str | None]:
    """Extension: what the read token may see (``kind`` user, creator or analyst, and whom)."""
    return {"kind": scope.kind, "subject": scope.subject}
