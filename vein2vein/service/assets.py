"""Static files and the offline API docs: everything a page loads comes from this service.

A console on a plant network has no internet, so nothing is fetched from a CDN at run time:
- `/static/` serves `vein2vein/service/static/` (Mermaid 11, bundled from npm with its
  licence and provenance in `static/mermaid/README.md`; the console's own scripts);
- `/static/swagger-ui/` serves Swagger UI from the PyPI package `swagger-ui-bundle-v2`
  (Swagger UI 5, Apache-2.0), which `/docs` loads instead of FastAPI's CDN default.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

__all__ = ["STATIC_DIR", "STATIC_URL", "SWAGGER_URL", "install"]

#: The console's static files, installed with the package.
STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/static"
SWAGGER_URL = f"{STATIC_URL}/swagger-ui"


def install(app: FastAPI) -> None:
    """Mount the static files and serve `/docs` from them. Create `app` with `docs_url=None`
    and `redoc_url=None`: FastAPI's own pages load their scripts from a CDN."""
    # The more specific mount first: Starlette matches mounts in order.
    app.mount(SWAGGER_URL, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI for the integration API, with every asset served locally and started by
        a static script (FastAPI's page starts it inline, which the CSP forbids)."""
        made = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{SWAGGER_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_URL}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_URL}/favicon-32x32.png",
        )
        page = bytes(made.body).decode()
        start = f'<script src="{STATIC_URL}/swagger-init.js" data-openapi="{openapi_url}"></script>'
        page = re.sub(r"<script>.*?</script>", start, page, flags=re.S)
        return HTMLResponse(page)
