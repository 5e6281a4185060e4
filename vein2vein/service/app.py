"""The FastAPI application and its uvicorn server (`vein2vein dev`, `vein2vein serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Generator, Mapping
from urllib.parse import quote

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

from activities.adapters import DEFAULT_SITES, SitesConfig
from definitions import load_catalog
from records import Ledger
from records.external_tasks import TaskStore
from records.reservations import Reservations
from records.temperature_store import TemperatureStore
from vein2vein.keys import deployment_signing_key
from vein2vein.service import (
    api,
    api_codec,
    api_people,
    api_records,
    api_tasks,
    assets,
    console,
    console_definitions,
    console_oidc,
    headers,
)
from vein2vein.service.auth import (
    SESSION_COOKIE,
    LoginRequired,
    PasswordChangeRequired,
    csrf_token,
    read_session,
)
from vein2vein.service.codec_cors import CodecCors
from vein2vein.service.context import Clock, ServiceContext, wall_clock
from vein2vein.service.files import service_secret
from vein2vein.service.idempotency import IdempotencyStore
from vein2vein.service.identity import Identity
from vein2vein.service.limits import EVENTS_PATH, BodyLimit
from vein2vein.service.oidc import OidcProvider
from vein2vein.service.orders import OrderStore
from vein2vein.service.templates import render_page
from vein2vein.settings import Settings
from workflows.client import connect
from workflows.definition import CompiledDefinition
from workflows.signatures import SigningKey

log = logging.getLogger("vein2vein.service")

DESCRIPTION = """Integration API and operations console of vein2vein.

Integration clients authenticate with a scoped bearer token (`vein2vein tokens create`);
people sign in at `/login`. Every POST takes an `Idempotency-Key` header: a repeat returns the
first answer and changes nothing. Decisions are signed electronically: the signer's password
is asked again, and the workflow verifies the signature."""


def create_app(
    settings: Settings,
    client: Client | None = None,
    *,
    clock: Clock | None = None,
    key: SigningKey | None = None,
    catalog: Mapping[str, CompiledDefinition] | None = None,
    sites: SitesConfig | None = None,
) -> FastAPI:
    """The service for `settings`. Without `client` it connects to Temporal in the background
    (503 until then). `clock`, `key`, `catalog` and `sites` default to the deployment's."""
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    db_url = settings.ledger
    secret = service_secret(settings.data_dir)
    ledger = Ledger.from_url(db_url)
    ledger.create_schema()
    temperature = TemperatureStore(ledger.engine)
    temperature.create_schema()
    Reservations(ledger.engine).create_schema()
    if sites is None:
        sites = SitesConfig.load(settings.sites_file) if settings.sites_file else DEFAULT_SITES
    ctx = ServiceContext(
        settings=settings,
        key=key or deployment_signing_key(settings),
        clock=clock or wall_clock,
        secret=secret,
        identity=Identity.open(db_url, settings.data_dir),
        idempotency=IdempotencyStore(db_url, secret),
        tasks=TaskStore(db_url),
        orders=OrderStore(db_url),
        ledger=ledger,
        temperature=temperature,
        catalog=catalog if catalog is not None else load_catalog(settings.extra_definitions),
        sites=sites,
        client=client,
        oidc=OidcProvider(settings.oidc, db_url) if settings.oidc else None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        connecting = None if ctx.client is not None else asyncio.create_task(_connect(ctx))
        try:
            yield
        finally:
            if connecting is not None:
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting

    app = FastAPI(
        title="vein2vein",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served offline by `assets.install`
        redoc_url=None,  # ReDoc would load its script from a CDN; Swagger UI at /docs suffices
    )
    app.state.ctx = ctx
    app.include_router(api.router)
    app.include_router(api_people.router)
    app.include_router(api_tasks.router)
    app.include_router(api_records.router)
    app.include_router(api_codec.router)
    app.include_router(console.router)
    app.include_router(console_definitions.router)
    app.include_router(console_oidc.router)
    assets.install(app)
    headers.install(app)
    if settings.codec_origins:
        app.add_middleware(CodecCors, origins=settings.codec_origins)
    _install_handlers(app)
    # Added last, so it runs first: nothing reads a body before its size is checked.
    app.add_middleware(
        BodyLimit,
        default=settings.max_body_bytes,
        by_path={EVENTS_PATH: settings.max_event_body_bytes},
    )
    return app


async def _connect(ctx: ServiceContext) -> None:
    from vein2vein.observability import make_client_options
    from vein2vein.payload_keys import codec_for

    s = ctx.settings
    while ctx.client is None:
        try:
            ctx.client = await connect(
                s.address, s.namespace, payload_codec=codec_for(s), **make_client_options(s)
            )
            log.info("service connected to temporal", extra={"address": s.address})
        except Exception as err:  # the embedded server may still be starting
            log.info("waiting for temporal", extra={"error": str(err)})
            await asyncio.sleep(1.0)


def _is_page(request: Request) -> bool:
    path = request.url.path
    return not (
        path.startswith(("/api", "/static/", "/codec/"))
        or path in ("/openapi.json", "/docs", "/redoc")
    )


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(_: Request, exc: LoginRequired) -> Response:
        page = "/console/password" if isinstance(exc, PasswordChangeRequired) else "/login"
        return RedirectResponse(f"{page}?next={quote(exc.next_url)}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not _is_page(request):
            return await http_exception_handler(request, exc)
        return _error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if not _is_page(request):
            # The reason without the input: it may hold a password or a patient's pseudonym.
            errors = [
                {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                for e in exc.errors()
            ]
            return JSONResponse({"detail": errors}, status_code=422)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error_page(request, 422, f"invalid input: {where}: {first.get('msg', '')}")


def _error_page(request: Request, status: int, message: str) -> Response:
    ctx: ServiceContext = request.app.state.ctx
    who = read_session(ctx, request.cookies.get(SESSION_COOKIE))
    html = render_page(
        "error",
        title=str(status),
        who=who,
        csrf=csrf_token(ctx, who) if who else "",
        status=status,
        message=message,
    )
    return HTMLResponse(html, status_code=status)


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the caller's `stop` event ends it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave the process's signal handlers alone."""
        yield


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    client: Client | None = None,
) -> None:
    """Serve the API and console on host:port until `stop` is set."""
    app = create_app(settings, client)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on")
    server = QuietServer(config)
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        await serving
