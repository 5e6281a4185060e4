"""Framework overhead: vein2vein against a hand-written temporalio workflow doing the same work.

Both run the same six trivial outside-world calls (the simulated adapter's `perform`, once per
idempotency key) for N batches started at once, on one embedded dev server, with the worker in
this process. The raw workflow is what a team would write by hand: six `execute_activity`
calls, default sandbox, no audit trail. vein2vein adds what the framework promises: the pinned
definition, the batch record, the audit trail projected exactly once into the hash-chained
ledger, search attributes.

Prints, for each: wall seconds, batches per second, worker CPU seconds per batch (this process:
worker and client), server CPU seconds per batch (the Temporal process, from /proc), history
events per batch; then vein2vein's ratios to raw.

    .venv/bin/python -m benchmarks.overhead [--batches 50]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks.raw_workflow import STEPS, RawSixCalls
from benchmarks.server import embedded_server, simulated_network
from tests.harness import order
from vein2vein.worker import build_worker
from workflows import activity as declare
from workflows import call, minutes, process, stage, task
from workflows.client import new_batch_id, start_batch
from workflows.model import StepCall, StepOutput

SITE = "manufacturing_site"

#: Six calls to the manufacturing site, nothing else: the work both sides do.
BENCH = process(
    "bench-six-calls",
    version="1",
    title="Six trivial outside-world calls (overhead benchmark)",
    specification={},
    activities=[declare("bench_step", "A trivial call to the site")],
    stages=[
        stage(
            "only",
            *(
                task(
                    f"step{n}",
                    call("bench_step", at="manufacturing_site", timeout=minutes(1), attempts=3),
                )
                for n in range(1, STEPS + 1)
            ),
        )
    ],
)


@dataclass
class Figures:
    """What one side cost for its batches."""

    name: str
    batches: int
    wall_s: float
    worker_cpu_s: float
    server_cpu_s: float
    events: float

    def row(self) -> str:
        """One line of the table."""
        n = self.batches
        return (
            f"{self.name:<10} {self.wall_s:>7.1f} {n / self.wall_s:>9.2f} "
            f"{self.worker_cpu_s / n * 1000:>12.1f} {self.server_cpu_s / n * 1000:>12.1f} "
            f"{self.events:>8.1f}"
        )


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    name: str,
    client: Client,
    server_pid: int,
    batches: int,
    start: Callable[[str], Awaitable[object]],
) -> Figures:
    """Start `batches` at once through `start`, wait for all, and count what it cost."""
    ids = [new_batch_id() for _ in range(batches)]
    cpu0, srv0, t0 = time.process_time(), server_cpu(server_pid), time.perf_counter()
    await asyncio.gather(*(start(b) for b in ids))
    await asyncio.gather(*(client.get_workflow_handle(b).result() for b in ids))
    wall = time.perf_counter() - t0
    cpu, srv = time.process_time() - cpu0, server_cpu(server_pid) - srv0
    sample = ids[: min(10, batches)]
    events = [len((await client.get_workflow_handle(b).fetch_history()).events) for b in sample]
    return Figures(name, batches, wall, cpu, srv, sum(events) / len(events))


async def main(batches: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with embedded_server(Path(tmp)) as (client, pid):
            await _compare(batches, Path(tmp), client, pid)


async def _compare(batches: int, tmp: Path, client: Client, pid: int) -> None:
    """Run both sides, raw first, on one server; print the table and the ratios."""
    net = simulated_network(client, tmp)
    world, ledger, acts = net.world, net.ledger, net.activities

    @activity.defn(name="raw_step")
    async def raw_step(c: StepCall) -> StepOutput:
        return await world.perform(c)

    raw_worker = Worker(
        client,
        task_queue="raw",
        workflows=[RawSixCalls],
        activities=[raw_step],
        activity_executor=ThreadPoolExecutor(max_workers=8),
    )
    async with raw_worker:
        raw = await measure(
            "raw",
            client,
            pid,
            batches,
            lambda b: client.start_workflow("raw-six-calls", b, id=b, task_queue="raw"),
        )
    async with build_worker(client, acts, products=[BENCH]):
        ours = await measure(
            "vein2vein",
            client,
            pid,
            batches,
            lambda b: start_batch(client, BENCH, order(), batch_id=b),
        )
    ledger.close()
    print(f"{batches} batches of {STEPS} calls each, started at once, on the embedded dev server")
    heads = ("wall s", 7), ("batches/s", 9), ("worker ms/b", 12), ("server ms/b", 12)
    print(f"{'':<10} " + " ".join(f"{h:>{w}}" for h, w in heads) + f" {'events':>8}")
    print(raw.row())
    print(ours.row())
    print(
        f"vein2vein / raw: throughput {batches / ours.wall_s / (batches / raw.wall_s):.2f}x, "
        f"worker CPU {ours.worker_cpu_s / raw.worker_cpu_s:.2f}x, "
        f"server CPU {ours.server_cpu_s / raw.server_cpu_s:.2f}x, "
        f"history events {ours.events / raw.events:.2f}x"
    )


if __name__ == "__main__":
    # Deviations are the point here, not news: keep the workflow logger's notices off the table.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=50)
    asyncio.run(main(parser.parse_args().batches))
