"""Request body limits: a body over its limit is refused with 413 before it is buffered whole.

`BodyLimit` is the outermost middleware of the service (`app.create_app`). A declared
`Content-Length` over the limit is answered at once, before any route, authentication or body
read runs. A body without one (chunked transfer) is counted as its chunks arrive, and the
request fails as soon as the count passes the limit, so at most one chunk beyond the limit is
ever held. The answer is JSON, `{"detail": "..."}` naming the limit. The connection stays
open: uvicorn reads the rest of an oversized upload and drops it as it arrives (so the client,
which sends its whole body before it reads, gets the 413 instead of a reset), keeping none of
it; a reverse proxy's own limit stops such an upload earlier (README, Security).

Limits come from `Settings.max_body_bytes` and, for `POST /api/events` (which may carry a
temperature logger's whole series), `Settings.max_event_body_bytes`.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Paths with a limit of their own (`/api/events` carries temperature series).
EVENTS_PATH = "/api/events"


class BodyTooLarge(HTTPException):
    """A request body that passed its limit while it was read.

    An `HTTPException`, so that FastAPI, which turns any other failure while it reads a body
    into a 400, passes it on; the service's error handler then answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


def too_large_message(limit: int) -> str:
    """The reason given with a 413: the limit, in bytes."""
    return f"request body too large: at most {limit} bytes are accepted here"


class BodyLimit:
    """ASGI middleware refusing request bodies over `default` bytes (or the path's own limit
    in `by_path`) with 413, without reading more than the limit."""

    def __init__(self, app: ASGIApp, *, default: int, by_path: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        self.by_path = dict(by_path)

    def limit_for(self, path: str) -> int:
        """The body limit of a request to `path`."""
        return self.by_path.get(path.rstrip("/") or "/", self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection event, refusing an oversized body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(400, "invalid Content-Length header")(scope, receive, send)
                return
            if int(declared) > limit:
                await _refuse(413, too_large_message(limit))(scope, receive, send)
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            # Raised outside FastAPI's body parsing (a route reading the stream itself).
            if started:
                raise
            await _refuse(413, too_large_message(limit))(scope, receive, send)


def _refuse(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)
