"""Recovery after a worker or dev server SIGKILL with batches in flight, on the real dev server.

N batches (default 200) each run a chain of MES operations, every one answered by the simulated
world after about `--answer-seconds`, on a worker in its own process (`worker.py`, as
deployed). The simulated world runs in this process and reports through the integration path,
as a real MES would (`benchmarks.outside_world`; `--world temporal`: as report workflows on the
measured server and worker, the simulator's default, which doubles their work). Once every
batch is moving, the worker (`--kill worker`, the default) is SIGKILLed and a new one starts at
once, or the dev server (`--kill server`) is SIGKILLed and restarted on its file while the
worker keeps running. From each batch's history: how long after the kill its first workflow
task completed again (p50, p95, max), and for that task how long it took to be scheduled, how
long it waited in the queue and how long it ran; how many workflow tasks timed out after the
kill (and how many of those waited on a dead worker's sticky queue) and how many took over
5 s; and, for contrast, how many batches completed a workflow task in the 10 s before it. The
machine's load average is printed before the run. The histories are first read
`--observe-after` seconds after the kill (reading them loads the server being measured).

    .venv/bin/python -m benchmarks.recovery [--batches 200] [--kill worker|server]
        [--answer-seconds 0.4] [--world outside|temporal] [--workers 1] [--settle 20]
        [--observe-after 45] [--patience 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client

from activities import KNOWN_ACTIVITIES
from activities.sim_tables import DURATIONS_H
from benchmarks.outside_world import PORT_VARIABLE, OutsideWorld
from benchmarks.server import percentile
from vein2vein.sticky import RELEASED
from workflows import call, minutes, process, stage, task, wait_for

#: Operations per batch: long enough that every batch is mid-chain when the worker dies.
OPERATIONS = 40

CHAIN = process(
    "bench-mes-chain",
    version="1",
    title="A chain of MES operations, each answered within a second (recovery benchmark)",
    specification={},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", at="system", timeout=minutes(1), attempts=5)),
            *(
                wait_for(
                    f"op{n}",
                    "mes.operation_done",
                    ask=call(
                        "start_operation",
                        at="manufacturing_site",
                        timeout=minutes(1),
                        attempts=5,
                        operation=f"op{n}",
                    ),
                    deadline=minutes(30),
                )
                for n in range(1, OPERATIONS + 1)
            ),
        )
    ],
)

#: What the worker process loads (`VEIN2VEIN_DEFINITIONS=benchmarks.recovery:PRODUCTS`).
PRODUCTS = {CHAIN.product: CHAIN}

SITES = """
[sites.TC-NORTH]
kind = "treatment_centre"
[sites.MFG-EAST]
kind = "manufacturing_site"
lanes = 1000
[sites.COURIER-CRYO]
kind = "courier"
"""


class Progress(NamedTuple):
    """One batch's recovery, read from its history."""

    #: Seconds from the kill to its first workflow task completed after it (None: not yet).
    back: float | None
    timed_out: int
    slow: int
    moved_before: bool
    #: For that first task: seconds from the kill until it was scheduled (a task the dead
    #: worker held times out first), waiting in the queue, and running on the new worker.
    scheduled: float | None = None
    queued: float | None = None
    ran: float | None = None
    #: Activity tasks that timed out after the kill (calls the dead worker was running).
    calls_timed_out: int = 0
    #: Of `timed_out`, those that waited on a sticky queue too long (not started at all).
    sticky_timeouts: int = 0
    #: The longest it went without completing a workflow task in the 20 s before the kill:
    #: how long a batch waits for its turn when nothing failed.
    gap_before: float | None = None
    #: Seconds after the kill at which its sticky-queue timeouts happened.
    sticky_at: tuple[float, ...] = ()


#: The server sends tasks to a dead worker's sticky queue until it has seen no poll there for
#: 10 s (fixed in the server), and each waits out its schedule-to-start timeout (5 s) there.
STICKY_DEAD_WINDOW = 15.0


async def _progress(client: Client, batch_id: str, killed: datetime) -> Progress:
    """Read one batch's recovery from its history (`Progress`)."""
    history = await client.get_workflow_handle(batch_id).fetch_history()
    first: float | None = None
    timed_out = slow = calls_timed_out = sticky = 0
    moved_before = False
    at_event: dict[int, datetime] = {}
    parts: tuple[float | None, float | None, float | None] = (None, None, None)
    before: list[datetime] = []
    sticky_at: list[float] = []
    for e in history.events:
        at = e.event_time.ToDatetime(tzinfo=UTC)
        at_event[e.event_id] = at
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            if killed - timedelta(seconds=10) <= at < killed:
                moved_before = True
            if killed - timedelta(seconds=20) <= at < killed:
                before.append(at)
            if at >= killed:
                attrs = e.workflow_task_completed_event_attributes
                began = at_event.get(attrs.started_event_id)
                if first is None:
                    first = (at - killed).total_seconds()
                    sched = at_event.get(attrs.scheduled_event_id)
                    if sched is not None and began is not None:
                        parts = (
                            max(0.0, (sched - killed).total_seconds()),
                            (began - max(sched, killed)).total_seconds(),
                            (at - began).total_seconds(),
                        )
                if began is not None and (at - began).total_seconds() > 5:
                    slow += 1
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT and at >= killed:
            timed_out += 1
            kind = e.workflow_task_timed_out_event_attributes.timeout_type
            if kind == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START:
                sticky += 1
                sticky_at.append((at - killed).total_seconds())
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT and at >= killed:
            calls_timed_out += 1
    gaps = [(b - a).total_seconds() for a, b in pairwise(before)]
    return Progress(
        first,
        timed_out,
        slow,
        moved_before,
        *parts,
        calls_timed_out,
        sticky,
        max(gaps, default=None),
        tuple(sticky_at),
    )


async def main(args: argparse.Namespace) -> None:
    """One run as the command line asks (`--help`)."""
    batches, settle, patience, kill = args.batches, args.settle, args.patience, args.kill
    # Here, not at the top: the worker process imports this module for PRODUCTS.
    from tests.realserver.conftest import _cluster

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async for cluster in _cluster(root, server=True, quiet=True):
            sites = root / "sites.toml"
            sites.write_text(SITES)
            env = {
                "VEIN2VEIN_SITES": str(sites),
                "VEIN2VEIN_DEFINITIONS": "benchmarks.recovery:PRODUCTS",
                # Every operation takes the simulated world's default duration.
                "VEIN2VEIN_SIM_SPEED": str(DURATIONS_H["default"] * 3600 / args.answer_seconds),
            }
            module, world = None, None
            if args.world == "outside":
                world = OutsideWorld(await cluster.client())
                await world.serve()
                env[PORT_VARIABLE] = str(world.port)
                module = "benchmarks.outside_world"
            cluster.start_worker(module, embedded=False, **env)
            await cluster.worker_ready()
            t0 = time.perf_counter()
            ids = [await cluster.start(CHAIN) for _ in range(batches)]
            print(
                f"{batches} batches started in {time.perf_counter() - t0:.1f} s; "
                f"running {settle:.0f} s before the kill"
            )
            await asyncio.sleep(settle)

            killed = datetime.now(UTC)
            if kill == "server":
                cluster.kill_server()
                cluster.start_server()
            else:
                assert cluster.kill_worker(signal.SIGKILL) == -signal.SIGKILL
                cluster.start_worker(module, embedded=False, **env)
                # More replacement processes share the replay (one Python process replays on
                # one core at a time).
                logs = [cluster.worker_log]
                for _ in range(args.workers - 1):
                    logs.append(cluster.start_second_worker(module, **env))
                await cluster.worker_ready()
            client = await cluster.client()
            deadline = time.monotonic() + patience
            # Reading every history is work for the server: not while the batches recover.
            await asyncio.sleep(min(args.observe_after, patience))
            while True:
                figures = [await _progress(client, b, killed) for b in ids]
                waiting = sum(1 for f in figures if f[0] is None)
                if not waiting or time.monotonic() > deadline:
                    break
                await asyncio.sleep(10)
            _print(batches, figures, patience)
            if kill == "worker":
                _print_starts(logs, killed)
            if world is not None:
                await world.close()
                print(
                    f"outside world: {world.delivered} reports delivered, {world.refused} "
                    f"refused, {world.given_up} given up"
                )


def _print_starts(logs: list[Path], killed: datetime) -> None:
    """When each replacement worker released the sticky batches and began to poll."""
    for n, path in enumerate(logs, 1):
        seen = []
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            event = str(entry.get("event", ""))
            if event.startswith(RELEASED) or event == "worker running":
                at = (datetime.fromisoformat(entry["timestamp"]) - killed).total_seconds()
                seen.append(f"{event} (+{at:.1f} s)")
        print(f"  replacement worker {n}: " + "; ".join(seen))


def _wait_for_idle(limit: float, patience: float) -> float:
    """Wait until the 1-minute load average is below `limit` (the previous run's processes
    have gone, but the average lags them), at most `patience` seconds; the seconds waited."""
    start = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() - start < patience:
        time.sleep(5)
    return time.monotonic() - start


def _spread(values: list[float]) -> str:
    """p50, p95 and max of `values`, in seconds."""
    return (
        f"p50 {percentile(values, 0.5):.1f} s, p95 {percentile(values, 0.95):.1f} s, "
        f"max {max(values, default=float('nan')):.1f} s"
    )


def _print(batches: int, figures: list[Progress], patience: float) -> None:
    back = [f.back for f in figures if f.back is not None]
    gaps = [f.gap_before for f in figures if f.gap_before is not None]
    print(
        f"before the kill: {sum(1 for f in figures if f.moved_before)}/{batches} batches "
        "completed a workflow task in the last 10 s; longest wait between two of a batch's "
        f"tasks in the last 20 s {_spread(gaps)}"
    )
    print(
        f"after the SIGKILL: moving again {_spread(back)} "
        f"(mean {statistics.fmean(back) if back else float('nan'):.1f} s); "
        f"{batches - len(back)} not moving after {patience:.0f} s"
    )
    # What the kill cost a batch: from the kill (or, if it had nothing to do then, from when
    # its next task was due) until that task completed.
    delayed = [
        f.back if not f.scheduled else (f.queued or 0.0) + (f.ran or 0.0)
        for f in figures
        if f.back is not None
    ]
    print(f"  delayed by the kill: {_spread(delayed)}")
    for label, values in [
        ("scheduled after the kill", [f.scheduled for f in figures]),
        ("waiting in the queue", [f.queued for f in figures]),
        ("running on the new worker", [f.ran for f in figures]),
    ]:
        known = [v for v in values if v is not None]
        print(f"  first task {label}: {_spread(known)}")
    slowest = sorted((f for f in figures if f.back is not None), key=lambda f: f.back or 0.0)
    for f in slowest[-3:]:
        print(
            f"  a slowest batch: back after {f.back:.1f} s: scheduled {f.scheduled or 0:.1f} s "
            f"after the kill, queued {f.queued or 0:.1f} s, ran {f.ran or 0:.1f} s; "
            f"{f.timed_out} of its tasks timed out ({f.sticky_timeouts} on a sticky queue)"
        )
    print(
        f"workflow tasks after the kill: {sum(f.timed_out for f in figures)} timed out "
        f"({sum(f.sticky_timeouts for f in figures)} of them waiting on a sticky queue), "
        f"{sum(f.slow for f in figures)} took over 5 s; "
        f"{sum(f.calls_timed_out for f in figures)} calls timed out"
    )
    sticky_at = [t for f in figures for t in f.sticky_at]
    early = sum(1 for t in sticky_at if t < STICKY_DEAD_WINDOW)
    print(
        f"  sticky-queue timeouts within {STICKY_DEAD_WINDOW:.0f} s of the kill (the dead "
        f"worker's queue): {early}; later (the new worker's own queue): {len(sticky_at) - early}"
    )


if __name__ == "__main__":
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument(
        "--settle", type=float, default=20.0, help="seconds running before the kill"
    )
    parser.add_argument("--patience", type=float, default=300.0)
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes started after the kill"
    )
    parser.add_argument("--kill", choices=("worker", "server"), default="worker")
    parser.add_argument(
        "--world",
        choices=("outside", "temporal"),
        default="outside",
        help="the simulated world in a process of its own, reporting as an integration "
        "would (outside), or as report workflows on the measured server and worker",
    )
    parser.add_argument(
        "--observe-after",
        type=float,
        default=45.0,
        help="seconds after the kill before the histories are first read",
    )
    parser.add_argument(
        "--answer-seconds",
        type=float,
        default=0.4,
        help="about how long the simulated world takes to answer each operation",
    )
    parser.add_argument(
        "--idle-load",
        type=float,
        default=1.0,
        help="first wait (up to 3 min) until the 1-minute load average is below this",
    )
    args = parser.parse_args()
    waited = _wait_for_idle(args.idle_load, patience=180.0)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.batches} batches; SIGKILL the {args.kill}; replacement worker processes: "
        f"{args.workers if args.kill == 'worker' else 0}; world: {args.world}; each operation "
        "answered after about "
        f"{args.answer_seconds:g} s; load average before: {load} "
        f"on {os.cpu_count()} cores (after waiting {waited:.0f} s for it to settle)"
    )
    asyncio.run(main(args))
