"""`vein2vein dev`: embedded Temporal, the worker and demonstration batches, watched live."""

from __future__ import annotations

import asyncio
import contextlib

from rich.console import Console
from rich.live import Live
from rich.table import Table

from activities import Fault, SimulatedWorld
from definitions import AUTOLOGOUS_CD19_CAR_T
from vein2vein.settings import Settings
from workflows.client import connect, get_record, start_batch
from workflows.model import BatchRecord, Order
from workflows.signatures import SigningKey

#: The demonstration: one clean batch and one for each kind of trouble QA has to decide.
DEMO_FAULTS: list[tuple[str, list[Fault]]] = [
    ("clean run", []),
    ("courier excursion", [Fault(kind="temperature_excursion", step="receipt_at_site")]),
    ("low viability (OOS)", [Fault(kind="oos", result="viability_pct")]),
    ("re-collection", [Fault(kind="failed_collection")]),
]


async def start_demo(settings: Settings, world: SimulatedWorld) -> list[tuple[str, str]]:
    """Start the demonstration batches; returns (batch id, scenario) pairs."""
    from workflows.client import new_batch_id

    client = await connect(settings.address, settings.namespace)
    key = SigningKey.load_or_create(settings.signing_key_file)
    started = []
    for n, (scenario, faults) in enumerate(DEMO_FAULTS, 1):
        batch_id = new_batch_id()
        for f in faults:
            world.add_fault(f.model_copy(update={"batch_id": batch_id}))
        order = Order(
            order_id=f"DEMO-{batch_id[2:]}",
            patient_pseudonym=f"PSN-DEMO-{n:04d}",
            treatment_centre="TC-NORTH" if n % 2 else "TC-SOUTH",
            manufacturing_site="MFG-EAST",
            courier="COURIER-CRYO",
        )
        await start_batch(
            client, AUTOLOGOUS_CD19_CAR_T, order, trusted_keys=key.trusted(), batch_id=batch_id
        )
        started.append((batch_id, scenario))
    return started


def _board(records: list[tuple[str, BatchRecord]]) -> Table:
    table = Table("batch", "scenario", "status", "stage", "waiting for", title="demo batches")
    for scenario, r in records:
        table.add_row(
            r.batch_id, scenario, r.status.value, r.stage or "-", "; ".join(r.waiting_for)[:70]
        )
    return table


async def run_dev(settings: Settings, *, demo: bool, console: Console) -> None:
    """Run the embedded server and worker; with `demo`, start batches and show a live board."""
    import worker

    stop = asyncio.Event()
    world = SimulatedWorld(
        seed=settings.sim_seed, store=settings.data_dir / "simulated.db", speed=settings.sim_speed
    )
    serving = asyncio.create_task(worker.serve(settings, stop, world=world))
    client = None
    for _ in range(100):
        if serving.done():
            serving.result()
        with contextlib.suppress(Exception):
            client = await connect(settings.address, settings.namespace)
            break
        await asyncio.sleep(0.3)
    if client is None:
        raise RuntimeError(f"Temporal did not come up at {settings.address}")
    console.print(f"Temporal frontend  {settings.address}")
    if settings.temporal_address is None:
        console.print(f"Temporal Web UI    http://127.0.0.1:{settings.ui_port}")
    console.print(f"data directory     {settings.data_dir.resolve()}")
    console.print(f"simulation speed   {settings.sim_speed:g}x (simulated seconds per second)")
    try:
        if not demo:
            await serving
            return
        await asyncio.sleep(1.0)
        batches = await start_demo(settings, world)
        first = batches[0][0]
        console.print(
            "decide from another terminal, for example:\n"
            f"  .venv/bin/vein2vein batch show {first}\n"
            f"  .venv/bin/vein2vein batch decide {first} qa_disposition approve "
            "--signer qa --name 'Quinn Assurance' --role qa\n"
            "Ctrl-C stops everything (batches persist in the data directory)."
        )
        with Live(console=console, refresh_per_second=1) as live:
            while not serving.done():
                records = [(s, await get_record(client, b)) for b, s in batches]
                live.update(_board(records))
                await asyncio.sleep(2)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await serving
