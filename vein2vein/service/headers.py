"""Security headers on every response of the console and the API.

- `Content-Security-Policy`: everything from this service only, no inline script (the console's
  scripts are files under /static), no framing, no plugins, forms post only here. Inline style
  is allowed only where a page cannot do without it: the process diagram (Mermaid writes style
  into its SVG) and the batch record export (a self-contained document).
- `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`.
- `Strict-Transport-Security` when served over https or to anything but loopback.
- `Cache-Control: no-store` on pages and API answers (batch data is patient-adjacent), never on
  the static files, which hold nothing private.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

_STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_INLINE_STYLE = _STRICT.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
#: Pages whose markup carries inline style they cannot do without.
_NEEDS_INLINE_STYLE = re.compile(r"^/console/definitions/[^/]+$|^/api/batches/[^/]+/ebr$")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def policy_for(path: str) -> str:
    """The Content-Security-Policy of the page at `path`."""
    return _INLINE_STYLE if _NEEDS_INLINE_STYLE.match(path) else _STRICT


def install(app: FastAPI) -> None:
    """Add the security headers to every response of `app`."""

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        path = request.url.path
        headers = response.headers
        headers.setdefault("Content-Security-Policy", policy_for(path))
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        host = (request.url.hostname or "").strip("[]")
        if request.url.scheme == "https" or host not in _LOOPBACK:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not path.startswith("/static/") and path != "/console.css":
            headers["Cache-Control"] = "no-store"
        return response
