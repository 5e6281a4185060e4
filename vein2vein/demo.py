"""`vein2vein dev`: embedded Temporal, the worker and demonstration batches, watched live."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from rich.console import Console
from rich.live import Live
from temporalio.client import Client

from activities import Fault, SimulatedWorld
from definitions import (
    ALLOGENEIC_DONOR_LOT,
    ALLOGENEIC_PATIENT_ORDER,
    AUTOLOGOUS_CD19_CAR_T,
    IN_VIVO_LOT,
    IN_VIVO_PATIENT,
)
from records import Ledger
from records.approvals import Approvals
from vein2vein.approvals import approval_signature
from vein2vein.demo_time import at_speed
from vein2vein.keys import deployment_signing_key
from vein2vein.service.orders import OrderStore, start_order
from vein2vein.settings import Settings
from vein2vein.watch import Row, board, read_rows, sign_hints
from workflows.client import connect, new_batch_id
from workflows.definition import CompiledDefinition
from workflows.model import BatchRecord, DecisionAction, Order, Role

#: The demonstration: one clean CAR T batch, one for each kind of trouble QA has to decide,
#: and a lot of each off-the-shelf modality (release them, then start patient orders).
DEMO: list[tuple[str, CompiledDefinition, list[Fault]]] = [
    ("CAR T clean run", AUTOLOGOUS_CD19_CAR_T, []),
    (
        "CAR T courier excursion",
        AUTOLOGOUS_CD19_CAR_T,
        [Fault(kind="temperature_excursion", step="receipt_at_site")],
    ),
    ("CAR T low viability", AUTOLOGOUS_CD19_CAR_T, [Fault(kind="oos", result="viability_pct")]),
    ("CAR T re-collection", AUTOLOGOUS_CD19_CAR_T, [Fault(kind="failed_collection")]),
    ("allogeneic donor lot", ALLOGENEIC_DONOR_LOT, []),
    ("in vivo LNP lot", IN_VIVO_LOT, []),
]


async def start_demo(
    settings: Settings, world: SimulatedWorld, client: Client
) -> list[tuple[str, str]]:
    """Start the demonstration batches; returns (batch id, scenario) pairs. Each run's orders
    are new (the order id carries the batch id): one batch per order, as everywhere."""
    store = OrderStore(settings.ledger)
    started = []
    for n, (scenario, definition, faults) in enumerate(DEMO, 1):
        batch_id = new_batch_id()
        for f in faults:
            world.add_fault(f.model_copy(update={"batch_id": batch_id}))
        order = Order(
            order_id=f"DEMO-{batch_id[2:]}",
            patient_pseudonym=f"PSN-DEMO-{n:04d}",
            sites={
                "treatment_centre": "TC-NORTH" if n % 2 else "TC-SOUTH",
                "manufacturing_site": "MFG-EAST",
                "courier": "COURIER-CRYO",
            },
        )
        demo = demo_definition(settings, definition)
        await start_order(
            client, store, demo, order, by="demo", batch_id=batch_id, approvals=_approvals(settings)
        )
        started.append((batch_id, scenario))
    return started


#: Once a lot is released into inventory, a patient order draws from it.
FOLLOW_ON: dict[str, tuple[str, CompiledDefinition]] = {
    ALLOGENEIC_DONOR_LOT.product: ("allogeneic patient order", ALLOGENEIC_PATIENT_ORDER),
    IN_VIVO_LOT.product: ("in vivo patient (72 kg)", IN_VIVO_PATIENT),
}


async def start_follow_on(
    settings: Settings, client: Client, lot: BatchRecord, n: int
) -> tuple[str, str] | None:
    """Start the patient order that a released lot makes possible, if there is one."""
    follow = FOLLOW_ON.get(lot.product)
    if follow is None:
        return None
    scenario, definition = follow
    batch_id = new_batch_id()
    order = Order(
        order_id=f"DEMO-PO-{batch_id[2:]}",
        patient_pseudonym=f"PSN-DEMO-PO-{n:04d}",
        sites={
            "treatment_centre": "TC-NORTH",
            "manufacturing_site": "MFG-EAST",
            "courier": "COURIER-CRYO",
        },
        weight_kg=72.0,
    )
    store = OrderStore(settings.ledger)
    demo = demo_definition(settings, definition)
    await start_order(
        client, store, demo, order, by="demo", batch_id=batch_id, approvals=_approvals(settings)
    )
    return batch_id, scenario


def _approvals(settings: Settings) -> Approvals | None:
    return Approvals(Ledger.from_url(settings.ledger)) if settings.require_approval else None


def demo_definition(settings: Settings, definition: CompiledDefinition) -> CompiledDefinition:
    """The definition a demonstration batch runs: `definition` at the demonstration's speed
    (`vein2vein.demo_time`), approved for use by the dev run itself when approval is
    required, with a signature that says so (never how a production version is approved)."""
    demo = at_speed(definition, settings.sim_speed)
    if not settings.require_approval:
        return demo
    approvals = Approvals(Ledger.from_url(settings.ledger))
    if approvals.refusal(demo, datetime.now(UTC)) is None:
        return demo
    now = datetime.now(UTC)
    signature = approval_signature(
        deployment_signing_key(settings),
        product=demo.product,
        version=demo.version,
        content_hash=demo.content_hash,
        action=DecisionAction.APPROVE,
        signer_id="dev-demo",
        printed_name="vein2vein dev (demonstration only)",
        role=Role.QA,
        reason="demonstration run: approved by `vein2vein dev --demo` itself",
        signed_at=now,
    )
    approvals.approve(demo, signature, now)
    return demo


def user_lines(settings: Settings, *, demo: bool) -> list[str]:
    """What `dev` says about users. Only `--demo` makes the demonstration users, with their
    published passwords (`vein2vein serve` refuses to go beyond loopback while one is left);
    otherwise it says how to add a first user when there is none."""
    from vein2vein.service.admin import ensure_demo_users, list_users
    from vein2vein.service.identity import Identity

    identity = Identity.open(settings.ledger, settings.data_dir)
    if demo:
        created = ensure_demo_users(identity)
        if created:
            return [f"  demo user {u:<9} password {p}" for u, p in created] + [
                "  (each chooses their own password at the first console sign-in; no"
                " signature before)"
            ]
        return ["  users from the data directory (demo credentials: see README)"]
    if list_users(identity):
        return ["  users from the data directory"]
    return [
        "  no users yet: add one with"
        ' `vein2vein users add USER --name "Printed Name" --role admin`'
        " (or run `vein2vein dev --demo` for the demonstration users)"
    ]


async def run_dev(
    settings: Settings, *, demo: bool, console: Console, http_port: int = 8000
) -> None:
    """Run the embedded server, worker and console; with `demo`, start batches and watch them."""
    from vein2vein import worker
    from vein2vein.service import serve as serve_http

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
    http = asyncio.create_task(serve_http(settings, stop, "127.0.0.1", http_port))
    console.print(f"console and API    http://127.0.0.1:{http_port}  (OpenAPI: /docs)")
    for line in user_lines(settings, demo=demo):
        console.print(line, markup=False)
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
        await watch_demo(settings, world, client, serving, console, http_port)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await serving
        with contextlib.suppress(Exception):
            await http


async def watch_demo(
    settings: Settings,
    world: SimulatedWorld,
    client: Client,
    serving: asyncio.Task[None],
    console: Console,
    http_port: int,
    *,
    every: float = 3.0,
) -> None:
    """Start the demonstration and watch it until the worker stops: a live board, a signing
    hint whenever a batch starts to wait for a person, follow-on orders for released lots.
    Nothing a batch does and no failed read ends the watch; a worker that stops does, and
    the reason is printed."""
    batches = await start_demo(settings, world, client)
    console.print(
        f"{len(batches)} demo batches started; signing hints appear below when a batch waits"
        " for a person. Ctrl-C stops everything (batches persist in the data directory).",
        soft_wrap=True,
    )
    rows: dict[str, Row] = {}
    told: set[str] = set()
    followed: set[str] = set()
    with Live(console=console, refresh_per_second=1) as live:
        while not serving.done():
            rows = await read_rows(client, batches, rows)
            for row in list(rows.values()):
                for line in sign_hints(row, settings, http_port, told):
                    live.console.print(line, soft_wrap=True, markup=False, highlight=False)
                rec = row.record
                if rec is not None and rec.completed and rec.batch_id not in followed:
                    followed.add(rec.batch_id)
                    try:
                        started = await start_follow_on(settings, client, rec, len(batches) + 1)
                    except Exception as e:  # shown, and the watch goes on
                        live.console.print(f"follow-on order for {rec.batch_id} not started: {e}")
                        continue
                    if started:
                        batches.append(started)
            live.update(board(rows.values()))
            await asyncio.sleep(every)
    problem = serving.exception() if not serving.cancelled() else None
    if problem is not None:
        console.print(f"the worker stopped: {type(problem).__name__}: {problem}", markup=False)
