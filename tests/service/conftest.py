"""The service under test, on the module's time-skipping Temporal server, worker and ledger.

Why the time-skipping server and not the real dev server: release gates sit weeks of simulated
process time after a batch starts; the time-skipping server reaches them in about a second.
Signatures are checked against workflow time, so the service gets the environment's clock
(`env.get_current_time`) instead of the wall clock. The one thing the time-skipping server
cannot do, listing workflows, is covered by `test_board_realserver.py` on the dev server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from definitions import CATALOG
from records import Ledger
from tests.harness import Harness
from tests.products import TEST_PRODUCTS
from tests.service.support import BASE, Client, People, free_port, login
from vein2vein.service.app import QuietServer, create_app
from vein2vein.settings import Settings


@pytest.fixture(scope="module")
def service_settings(
    tmp_path_factory: pytest.TempPathFactory, ledger: Ledger, approved: None
) -> Settings:
    """Settings whose data directory is private to the module and whose database is the
    module ledger's (the service keeps its tables beside the ledger)."""
    data_dir = tmp_path_factory.mktemp("service")
    url = ledger.engine.url.render_as_string(hide_password=False)
    return Settings(data_dir=data_dir, ledger_url=url)


@pytest.fixture(scope="module")
def people(service_settings: Settings) -> People:
    """Factory of users with fresh ids."""
    return People(service_settings)


@pytest.fixture(scope="module")
def app(harness: Harness, service_settings: Settings) -> FastAPI:
    """The service bound to the module's Temporal client, signing key and clock."""
    return create_app(
        service_settings,
        harness.client,
        clock=harness.env.get_current_time,
        key=harness.key,
        catalog={**CATALOG, **TEST_PRODUCTS},
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[Client]:
    """Factory of HTTP clients: anonymous, with a token, or signed in as a user."""
    made: list[httpx.AsyncClient] = []

    async def make(
        *, token: str | None = None, user: tuple[str, str] | None = None
    ) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers
        )
        made.append(http)
        if user is not None:
            r = await login(http, *user)
            assert r.status_code == 303, r.text
        return http

    yield make
    for http in made:
        await http.aclose()


@pytest.fixture(scope="module")
async def live_url(app: FastAPI) -> AsyncIterator[str]:
    """The same app served by uvicorn on a loopback port (one per module), in the session's
    event loop."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
