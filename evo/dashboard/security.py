"""What keeps the dashboard safe to leave open: a token on a non-loopback bind, loopback names only on a loopback
bind (a page elsewhere cannot rebind a name of its own to 127.0.0.1 and read the runs), and headers that stop the
browser from running anything but the dashboard's own scripts, whatever text a candidate or the LLM wrote.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

COOKIE = "evo_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'"
)
# A bench report is a whole document of its own (inline CSS, PNGs as data URIs): shown in a frame, with no scripts.
REPORT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def guard(app: FastAPI, token: str | None, loopback: bool) -> None:
    """Refuse requests without `token` (when set) or, on a loopback bind, addressed to another name; set the
    security headers on every answer."""

    @app.middleware("http")
    async def check(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse("the dashboard is read-only", status_code=405)
        if loopback and not is_loopback(request.url.hostname or ""):
            return PlainTextResponse("this dashboard answers on its loopback address only", status_code=403)
        given = request.query_params.get("token") or request.cookies.get(COOKIE) or _bearer(request)
        if token is not None and not (given and secrets.compare_digest(given.encode(), token.encode())):
            return PlainTextResponse("a token is required: open the address `evo serve` printed", status_code=401)
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # the token may be in the address
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        if token is not None and request.query_params.get("token"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value if scheme.lower() == "bearer" and value else None
