"""On the real dev server: the board lists batches through Temporal visibility (search
attributes), which the time-skipping server cannot do, and a decision signed with the wall
clock is accepted (workflow time is real time here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from activities import SimulatedWorld
from records import Ledger
from tests.approving import approve_all
from tests.products import FLAKY_BOOKING, TEST_PRODUCTS
from tests.service.support import (
    BASE,
    FAST_HASHER,
    ROOT,
    free_port,
    identity_of,
    key,
    login,
    order_json,
    own_password,
)
from vein2vein.embedded import start_dev_server
from vein2vein.keys import deployment_signing_key, load_registry
from vein2vein.service import admin
from vein2vein.service.app import create_app
from vein2vein.settings import Settings
from vein2vein.worker import build_worker, make_world
from workflows import keyring
from workflows.client import connect

pytestmark = pytest.mark.realserver


@pytest.fixture(scope="module")
async def dev(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Client, Path]]:
    data_dir = tmp_path_factory.mktemp("devserver")
    port = free_port()
    proc = start_dev_server(data_dir, port=port, ui=False)
    try:
        client = await connect(f"127.0.0.1:{port}")
        ledger = Ledger.from_url(f"sqlite:///{data_dir / 'ledger.db'}")
        ledger.create_schema()
        acts = make_world(client, ledger=ledger, world=SimulatedWorld(seed=3, speed=200_000))
        async with build_worker(client, acts, products=TEST_PRODUCTS.values()):
            yield client, data_dir
        ledger.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def service_settings(dev: tuple[Client, Path]) -> Iterator[Settings]:
    """The service's settings. Its first run makes and registers its signing key; the
    in-process worker trusts that registry, as a worker started on the same file would."""
    settings = Settings(data_dir=dev[1] / "service")
    key = deployment_signing_key(settings)
    with Ledger.from_url(settings.ledger) as records:
        records.create_schema()
        approve_all(records, key, TEST_PRODUCTS.values())
    previous = keyring.installed()
    keyring.install(load_registry(settings.trusted_keys_file))
    yield settings
    keyring.install(previous)


async def test_board_uses_search_attributes(
    dev: tuple[Client, Path], service_settings: Settings
) -> None:
    client, settings = dev[0], service_settings
    app = create_app(settings, client, catalog=TEST_PRODUCTS)
    for user_id, role in (("op", "operator"), ("qa", "qa")):
        admin.add_user(
            identity_of(settings),
            user_id,
            user_id.title(),
            [role],
            f"{user_id}-password",
            by=ROOT,
            hasher=FAST_HASHER,
        )
        own_password(identity_of(settings), user_id)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        assert (await login(http, "op", "op-password")).is_redirect
        started = []
        for _ in range(2):
            r = await http.post(
                "/api/batches",
                json={"product": FLAKY_BOOKING.product, "order": order_json()},
                headers={"Idempotency-Key": key()},
            )
            assert r.status_code == 201, r.text
            started.append(r.json()["batch_id"])
        listed: list[str] = []
        for _ in range(100):  # visibility is eventually consistent
            r = await http.get("/api/batches", params={"product": FLAKY_BOOKING.product})
            listed = [b["batch_id"] for b in r.json()]
            if set(started) <= set(listed):
                break
            await asyncio.sleep(0.1)
        assert set(started) <= set(listed)
        assert app.state.ctx.can_list, "listed through visibility, not the ledger fallback"
        r = await http.get("/api/batches", params={"status": "completed"})
        assert not set(started) & {b["batch_id"] for b in r.json()}
        page = await http.get("/console", params={"sort": "batch"})
        assert all(b in page.text for b in started)
        first, second = sorted(started)
        assert page.text.index(f'data-batch="{first}"') < page.text.index(f'data-batch="{second}"')

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as qa:
        assert (await login(qa, "qa", "qa-password")).is_redirect
        for _ in range(300):
            items = (await qa.get("/api/inbox")).json()
            if any(i["batch_id"] == started[0] for i in items):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the batch never reached the QA inbox")
        decision = {
            "target": "approve",
            "action": "approve",
            "role": "qa",
            "password": "qa-password",
        }
        r = await qa.post(
            f"/api/batches/{started[0]}/decisions",
            json=decision,
            headers={"Idempotency-Key": key()},
        )
        assert r.status_code == 200, r.text
        # Where the batch stands once it acted on the approval, not the status at acceptance.
        assert r.json()["status"] == "completed", r.text
