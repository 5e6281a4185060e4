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

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response start. A plain ASGI
    wrapper (not `BaseHTTPMiddleware`): it leaves the request body stream alone, so a body
    limit raised while the route reads still reaches the service's 413 handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        host = (Headers(scope=scope).get("host") or "").rsplit(":", 1)[0].strip("[]")
        secure = scope.get("scheme") == "https" or host not in _LOOPBACK

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in (
                    ("Content-Security-Policy", policy_for(path)),
                    ("X-Frame-Options", "DENY"),
                    ("X-Content-Type-Options", "nosniff"),
                    ("Referrer-Policy", "no-referrer"),
                ):
                    if name not in headers:
                        headers[name] = value
                if secure and "Strict-Transport-Security" not in headers:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
                if not path.startswith("/static/") and path != "/console.css":
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    """Add the security headers to every response of `app`."""
    app.add_middleware(SecurityHeaders)
