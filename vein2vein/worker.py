"""The vein2vein worker: every product definition and every activity on one task queue.

Worker construction lives here (`build_worker`, `make_world`, `serve`); the top-level
`worker.py` is only its entry point.

Connects to `TEMPORAL_ADDRESS` or, when it is unset, starts the embedded Temporal dev server
with a persistent SQLite file in the data directory. Before it polls it installs the deployment's
key registry (`VEIN2VEIN_TRUSTED_KEYS`), reloaded whenever the file changes, and takes the
running batches off other workers' sticky queues (`vein2vein.sticky`). Run it with
`python worker.py` or `vein2vein worker`; it stops cleanly on SIGTERM and SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.worker import Worker

from activities import Activities, SimulatedReport, SimulatedWorld, SitesConfig
from activities.adapters import DEFAULT_SITES
from activities.runtime import ChainAnchor
from definitions import CATALOG, load_catalog
from records import Checkpointer, Ledger, checkpoint_periodically
from records.reservations import Reservations
from records.temperature_store import TemperatureStore
from vein2vein import keys
from vein2vein.embedded import start_dev_server
from vein2vein.observability import configure_logging, make_client_options
from vein2vein.payload_keys import codec_for
from vein2vein.private import restrict_umask
from vein2vein.settings import DEFAULT_WORKFLOW_CACHE, DEFAULT_WORKFLOW_TASK_SLOTS, Settings
from vein2vein.sticky import release_sticky_batches
from vein2vein.workflow_runner import batch_runner
from workflows.client import TASK_QUEUE, connect
from workflows.definition import CompiledDefinition
from workflows.engine import SEARCH_ATTRIBUTES, metering
from workflows.entities import Inventory, SiteCapacity
from workflows.registry import workflow_type

log = logging.getLogger("vein2vein.worker")

#: How long a task waits on this worker's sticky queue before any worker may take it: after a
#: worker dies, the batches it held move on after this long (the SDK's default is 10 s). 3 s
#: was too short for a busy live worker: in `benchmarks.recovery` twice as many tasks missed
#: it (499 against 244), each batch then replayed from its history elsewhere.
STICKY_TIMEOUT = timedelta(seconds=5)
#: Workflow task polls kept open at once, and how the SDK splits them: the task queue gets
#: polls x ratio of them, the sticky queue the rest, each at least one. So 1.0 keeps ten open
#: on the task queue, where every task arrives after a restart, and one on this worker's
#: sticky queue. The SDK's default (one of five on the task queue) starves the task queue; five
#: and five (0.5) let the new worker's own batches crowd out those still waiting to be
#: replayed, and in `benchmarks.recovery` the last of them moved later (README, Performance).
WORKFLOW_TASK_POLLS = 10
NONSTICKY_TO_STICKY_POLL_RATIO = 1.0
#: The longest a call's heartbeat waits in the worker before it is sent to the server. The
#: SDK's throttle is 80% of the heartbeat timeout, which left 1 s of slack against
#: `workflows.policy.CALL_HEARTBEAT_TIMEOUT`; sent each second, a heartbeat may be 4 s late.
HEARTBEAT_EVERY = timedelta(seconds=1)


def build_worker(
    client: Client,
    activities: Activities,
    *,
    products: Iterable[CompiledDefinition] | None = None,
    task_queue: str = TASK_QUEUE,
    max_cached_workflows: int = DEFAULT_WORKFLOW_CACHE,
    workflow_task_slots: int = DEFAULT_WORKFLOW_TASK_SLOTS,
) -> Worker:
    """A worker running every product in `products` (default: the catalog), with the
    framework's activities and those the products declare.

    `workflow_task_slots` bounds the workflow tasks it holds at once (10 by default, see
    `vein2vein.settings.DEFAULT_WORKFLOW_TASK_SLOTS`); the polls and the sticky timeout are
    set for recovery after a restart (README, Performance)."""
    defns = list(CATALOG.values()) if products is None else list(products)
    names = [d.product for d in defns]
    declared = {a.name: a.description for d in defns for a in d.activities or ()}
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*(workflow_type(p) for p in names), SimulatedReport, SiteCapacity, Inventory],
        activities=activities.all(declared),
        activity_executor=ThreadPoolExecutor(max_workers=8),
        workflow_runner=batch_runner(),
        max_cached_workflows=max_cached_workflows,
        max_concurrent_workflow_tasks=workflow_task_slots,
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        max_concurrent_workflow_task_polls=WORKFLOW_TASK_POLLS,
        nonsticky_to_sticky_poll_ratio=NONSTICKY_TO_STICKY_POLL_RATIO,
        max_heartbeat_throttle_interval=HEARTBEAT_EVERY,
    )


async def register_search_attributes(client: Client, namespace: str) -> None:
    """Register the batch search attributes (idempotent; needed on servers without flags)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES
            },
        )
    )


def make_world(
    client: Client,
    *,
    ledger: Ledger,
    world: SimulatedWorld,
    sites: SitesConfig = DEFAULT_SITES,
    task_queue: str = TASK_QUEUE,
    task_db_url: str | None = None,
    anchor: ChainAnchor | None = None,
) -> Activities:
    """Activities whose every site is served by its configured adapter (here: simulated);
    slots and doses are reserved in the ledger's database; `anchor` checkpoints a batch's
    ledger chain when the batch closes."""

    def adapter_for(site_id: str) -> SimulatedWorld:
        site = sites.sites.get(site_id)
        if site is not None and site.adapter != "simulated":
            raise RuntimeError(f"site {site_id} needs adapter '{site.adapter}', not installed")
        return world

    reservations = Reservations(ledger.engine)
    reservations.create_schema()
    acts = Activities(
        adapter_for=adapter_for,
        ledger=ledger,
        client=client,
        task_queue=task_queue,
        task_db_url=task_db_url,
        anchor=anchor,
        lanes={site_id: site.lanes for site_id, site in sites.sites.items()},
        reservations=reservations,
    )
    if world.schedule is None:
        # Reports are durable workflows on this deployment's Temporal unless the world has its
        # own way of answering later (the recovery benchmark's outside world).
        world.schedule = acts.schedule_report
    if world.temperature_sink is None:
        # The simulated couriers' reading series go beside the ledger, as uploads via the API do.
        store = TemperatureStore(ledger.engine)
        store.create_schema()
        world.temperature_sink = store.put
    return acts


async def _connect_when_ready(settings: Settings, attempts: int = 60) -> Client:
    """Connect, waiting for a server that is still starting ("Frontend is not healthy yet"
    right after its port opens) for up to `attempts` half-seconds."""
    for attempt in range(attempts):
        try:
            return await connect(
                settings.address,
                settings.namespace,
                payload_codec=codec_for(settings),
                **make_client_options(settings),
            )
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


async def serve(
    settings: Settings, stop: asyncio.Event, *, world: SimulatedWorld | None = None
) -> None:
    """Run the worker (and the embedded server when no address is set) until `stop` is set.

    `world` lets `vein2vein dev` inject demonstration faults into the simulated adapter.
    """
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys.bootstrap(settings)
    watcher = keys.RegistryWatcher(settings.trusted_keys_file)
    watcher.load()  # an invalid registry stops the worker here, before anything runs
    metering.set_breach_margin(timedelta(seconds=settings.breach_margin))
    server: subprocess.Popen[bytes] | None = None
    if settings.temporal_address is None:
        server = start_dev_server(
            settings.data_dir, port=settings.temporal_port, ui_port=settings.ui_port
        )
        log.info("embedded temporal started", extra={"address": settings.address})
    try:
        client = await _connect_when_ready(settings)
        if settings.temporal_address is not None:
            await register_search_attributes(client, settings.namespace)
        ledger = Ledger.from_url(settings.ledger)
        ledger.create_schema()
        world = world or SimulatedWorld(
            seed=settings.sim_seed,
            store=settings.data_dir / "simulated.db",
            speed=settings.sim_speed,
        )
        sites = SitesConfig.load(settings.sites_file) if settings.sites_file else DEFAULT_SITES
        checkpointer = Checkpointer(
            ledger,
            keys.deployment_signing_key(settings),
            settings.checkpoint_journal_file,
        )
        acts = make_world(
            client,
            ledger=ledger,
            world=world,
            sites=sites,
            task_db_url=settings.ledger,
            anchor=checkpointer,
        )
        anchoring = asyncio.create_task(
            checkpoint_periodically(checkpointer, settings.checkpoint_interval, stop)
        )
        catalog = load_catalog(settings.extra_definitions)
        reloading = asyncio.create_task(watcher.run(stop))
        try:
            if settings.release_sticky:
                await release_sticky_batches(client, TASK_QUEUE)
            async with build_worker(
                client,
                acts,
                products=catalog.values(),
                max_cached_workflows=settings.workflow_cache,
                workflow_task_slots=settings.workflow_task_slots,
            ):
                log.info(
                    "worker running", extra={"task_queue": TASK_QUEUE, "products": list(catalog)}
                )
                await stop.wait()
        finally:
            reloading.cancel()
        await anchoring  # its last pass runs once `stop` is set
        log.info("worker stopped")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


async def run(world_for: Callable[[Settings], SimulatedWorld] | None = None) -> None:
    """Run the worker from environment settings until SIGTERM or SIGINT; `world_for` builds
    a simulated world of its own from the settings (a benchmark's or a test's)."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop, world=world_for(settings) if world_for else None)


def main(argv: list[str] | None = None) -> None:
    """Entry point: read the command line (only `--help`: everything else is configured by
    the environment), run, then exit without waiting on the Temporal runtime's native
    threads, which abort the interpreter's finalisation after an otherwise clean shutdown."""
    import argparse

    argparse.ArgumentParser(
        prog="worker.py",
        description="Run a vein2vein worker: every product's batches and their activities. "
        "It connects to TEMPORAL_ADDRESS, or starts the embedded Temporal dev server when "
        "that is unset. Configured by the environment (VEIN2VEIN_*, TEMPORAL_*; see the "
        "README's configuration table). SIGTERM or Ctrl-C stops it gracefully.",
    ).parse_args(argv)
    # Before anything is created: Temporal's and SQLite's files are the account's alone.
    restrict_umask()
    asyncio.run(run())
    logging.shutdown()
    os._exit(0)
