"""Cross-origin access to the codec endpoints, for a Temporal Web UI on its own origin.

The Web UI (e.g. `http://127.0.0.1:8233`) calls `/codec/decode` from the browser. It may do so
only from the origins the deployment names (`VEIN2VEIN_CODEC_ORIGINS`), with the signed-in
person's session (credentials), and only on `/codec`: every other route stays same-origin. The
endpoints still require a reader; CORS only lets the browser ask.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

CODEC_PREFIX = "/codec/"


class CodecCors:
    """ASGI middleware: Starlette's CORS handling for `/codec/...`, nothing elsewhere."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["POST"],
            allow_headers=["Content-Type", "X-Namespace", "Authorization"],
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(CODEC_PREFIX):
            await self.cors(scope, receive, send)
            return
        await self.app(scope, receive, send)
