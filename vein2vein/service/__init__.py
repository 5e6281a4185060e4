"""The HTTP service: integration API (JSON, OpenAPI at /openapi.json) and operations console.

- `create_app(settings, client=None)` and `serve(settings, stop, host, port)`: the app and its
  uvicorn server (`vein2vein dev`, `vein2vein serve`).
- `vein2vein.service.admin`: users, passwords, API tokens, unlocking, demo users (the CLI).
- External tasks are completed at `/api/tasks/...`; their store is `records.external_tasks`.

Imported lazily, so that the CLI's user and token commands do not load the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vein2vein.service.app import create_app, serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "serve"):
        from vein2vein.service import app

        return getattr(app, name)
    raise AttributeError(name)
