"""Bounded chaos on the real dev server: 40 batches (`make chaos`: 200) on two workers
sharing the task queue, one of them SIGKILLed three times, the server SIGKILLed and restarted
once. Every batch must end as if nothing happened: completed after its signed gate, each
outside-world call's side effect once per idempotency key, each report received once, every
audit event in the ledger once and every hash chain intact."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.realserver.conftest import Cluster
from tests.realserver.products import RELAY
from tests.realserver.test_durability import (
    RELAY_CALLS,
    _approve_and_finish,
    _assert_ledger_complete,
    _assert_relay_record_clean,
)

pytestmark = pytest.mark.realserver

#: 40 in `make test`; `make chaos` runs the same test with 200.
BATCHES = int(os.environ.get("VEIN2VEIN_CHAOS_BATCHES", "40"))

#: The order's sites, with lanes enough that every batch books (capacity is not on trial).
SITES = """
[sites.TC-NORTH]
kind = "treatment_centre"
[sites.MFG-EAST]
kind = "manufacturing_site"
lanes = 200
[sites.COURIER-CRYO]
kind = "courier"
"""


async def _restart_worker(cluster: Cluster, sites: Path) -> None:
    assert cluster.kill_worker(signal.SIGKILL) == -signal.SIGKILL
    cluster.start_worker(VEIN2VEIN_SITES=str(sites))
    await cluster.worker_ready()


async def test_chaos_two_workers_kills_and_a_server_restart(cluster: Cluster) -> None:
    sites = cluster.root / "sites.toml"
    sites.write_text(SITES)
    cluster.start_worker(VEIN2VEIN_SITES=str(sites))
    await cluster.worker_ready()
    cluster.start_second_worker(VEIN2VEIN_SITES=str(sites))
    batches = [await cluster.start(RELAY) for _ in range(BATCHES)]

    for pause in (2.0, 3.0):  # the first worker dies while the batches book, ship and wait
        await asyncio.sleep(pause)
        await _restart_worker(cluster, sites)
    await asyncio.sleep(2.0)
    cluster.kill_server()
    cluster.start_server()
    await asyncio.sleep(2.0)
    await _restart_worker(cluster, sites)

    records = [await _approve_and_finish(cluster, b) for b in batches]
    for rec in records:
        _assert_relay_record_clean(rec)
    world = cluster.world()
    expected = {f"{b}:{suffix}" for b in batches for suffix in RELAY_CALLS}
    assert set(world.effects()) == expected, "every outside-world call had exactly its effect"
    assert set(world.all_calls()) == expected
    _assert_ledger_complete(cluster, records)
