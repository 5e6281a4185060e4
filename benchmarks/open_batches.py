"""Open batches: N batches waiting for a signature, all cached by one worker.

Starts N batches of a two-step product (allocate the COI, then wait at a QA gate) on the
embedded dev server, with the worker in this process and its workflow cache as deployed
(`VEIN2VEIN_WORKFLOW_CACHE`, default 2,000; `--cache` to change it): batches beyond it are
evicted and replayed when read. Queries each until the gate is reached. Prints the start
rate, the seconds until all wait, query latency (p50/p99) and the worker's memory (RSS of this
process) before and after, per open batch.

    .venv/bin/python -m benchmarks.open_batches [--batches 1000] [--cache 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from temporalio.service import RPCError

from benchmarks.server import embedded_server, simulated_network
from tests.harness import order
from vein2vein.settings import DEFAULT_WORKFLOW_CACHE
from vein2vein.worker import build_worker
from workflows import Role, call, gate, minutes, process, stage, task
from workflows.client import get_record, new_batch_id, start_batch
from workflows.model import AwaitKind

WAITING = process(
    "bench-open-batch",
    version="1",
    title="Allocate a COI, then wait for QA (open-batch benchmark)",
    specification={},
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=3)),
            gate("approve", roles=(Role.QA,), meaning="approval"),
        )
    ],
)


def rss_mib() -> float:
    """This process's resident memory, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def main(batches: int, cache: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with embedded_server(Path(tmp)) as (client, _pid):
            net = simulated_network(client, Path(tmp))
            ledger, acts = net.ledger, net.activities
            worker = build_worker(client, acts, products=[WAITING], max_cached_workflows=cache)
            async with worker:
                before = rss_mib()
                ids = [new_batch_id() for _ in range(batches)]
                t0 = time.perf_counter()
                for chunk in range(0, batches, 50):
                    await asyncio.gather(
                        *(
                            start_batch(client, WAITING, order(), batch_id=b)
                            for b in ids[chunk : chunk + 50]
                        )
                    )
                started = time.perf_counter() - t0
                latencies: list[float] = []
                waiting: set[str] = set()
                while len(waiting) < batches and time.perf_counter() - t0 < 1800:
                    for b in [b for b in ids if b not in waiting]:
                        q0 = time.perf_counter()
                        try:
                            rec = await get_record(client, b, rpc_timeout=timedelta(seconds=60))
                        except RPCError:  # a worker busy starting the rest: ask again later
                            continue
                        latencies.append(time.perf_counter() - q0)
                        if any(a.kind == AwaitKind.DECISION for a in rec.awaiting):
                            waiting.add(b)
                all_waiting = time.perf_counter() - t0
                after = rss_mib()
            ledger.close()
    cuts = statistics.quantiles(latencies, n=100)
    print(f"{batches} open batches waiting at a QA gate, one worker caching up to {cache}")
    print(f"  started in {started:.1f} s ({batches / started:.1f} batches/s)")
    print(f"  all waiting after {all_waiting:.1f} s ({len(waiting)} of {batches})")
    print(f"  query p50 {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms")
    print(
        f"  worker RSS {before:.0f} MiB before, {after:.0f} MiB after: "
        f"{(after - before) / batches * 1024:.0f} KiB per open batch"
    )


if __name__ == "__main__":
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--cache", type=int, default=DEFAULT_WORKFLOW_CACHE)
    args = parser.parse_args()
    asyncio.run(main(args.batches, args.cache))
