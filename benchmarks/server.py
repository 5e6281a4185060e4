"""The embedded dev server the benchmarks run on (a fresh SQLite file, a free loopback port),
and the simulated network their workers serve."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from activities import Activities, SimulatedWorld
from records import Ledger
from vein2vein.embedded import start_dev_server
from vein2vein.worker import make_world
from workflows.client import connect


def percentile(values: list[float], q: float) -> float:
    """The value below which a share `q` of `values` falls (nearest rank); NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def embedded_server(data_dir: Path) -> AsyncIterator[tuple[Client, int]]:
    """A dev server on `data_dir` and a client on it; yields (client, server pid)."""
    port = free_port()
    proc = start_dev_server(data_dir, port=port, ui_port=free_port(), ui=False)
    try:
        for attempt in range(60):  # the frontend answers a little after its port opens
            try:
                client = await connect(f"127.0.0.1:{port}")
                break
            except RuntimeError:
                if attempt == 59:
                    raise
                await asyncio.sleep(0.5)
        yield client, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass
class Network:
    """The simulated outside world, the ledger and the activities bound to both."""

    world: SimulatedWorld
    ledger: Ledger
    activities: Activities


def simulated_network(client: Client, data_dir: Path) -> Network:
    """A fresh SQLite ledger and simulated world in `data_dir`, and vein2vein's activities."""
    ledger = Ledger.from_url(f"sqlite:///{data_dir}/ledger.db")
    ledger.create_schema()
    world = SimulatedWorld(seed=1, store=data_dir / "world.db")
    return Network(world, ledger, make_world(client, ledger=ledger, world=world))
