"""Open batches: N batches waiting for a signature on one worker, its workflow cache as deployed.

Starts N batches of a two-step product (allocate the COI, then wait at a QA gate) on the
embedded dev server, with the worker in this process and its workflow cache as deployed
(`VEIN2VEIN_WORKFLOW_CACHE`, default 2,000; `--cache` to change it): batches beyond it are
evicted and replayed when read. Waits until the ledger shows every batch at the gate, then
queries a seeded sample of them. Prints the start rate, the seconds until all wait, query
latency (p50/p99) and the worker's memory (RSS of this process) before and after, per open
batch.

    .venv/bin/python -m benchmarks.open_batches [--batches 1000] [--cache 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from temporalio.service import RPCError

from benchmarks.server import embedded_server, percentile, simulated_network
from records import Ledger
from tests.harness import order
from vein2vein.settings import DEFAULT_WORKFLOW_CACHE
from vein2vein.worker import build_worker
from workflows import Role, call, gate, minutes, process, stage, task
from workflows.client import get_record, new_batch_id, start_batch
from workflows.model import AuditAction

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


def _at_gate(ledger: Ledger, batch_id: str) -> bool:
    """Whether the batch's ledger shows it waiting at the gate (no Temporal call: the ledger
    is where the board's records end up, and asking Temporal 10,000 times would measure it)."""
    return any(
        e.action == AuditAction.STEP_STARTED and e.subject == "approve"
        for e in ledger.entries(batch_id)
    )


async def main(batches: int, cache: int, sample: int) -> None:
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
                waiting: set[str] = set()
                while len(waiting) < batches and time.perf_counter() - t0 < 1800:
                    waiting |= {b for b in ids if b not in waiting and _at_gate(ledger, b)}
                    await asyncio.sleep(1)
                all_waiting = time.perf_counter() - t0
                # Queries on a seeded sample: most are outside the cache and replay first.
                latencies: list[float] = []
                for b in random.Random(7).sample(ids, min(sample, batches)):
                    q0 = time.perf_counter()
                    try:
                        await get_record(client, b, rpc_timeout=timedelta(seconds=60))
                    except RPCError:
                        continue
                    latencies.append(time.perf_counter() - q0)
                after = rss_mib()
            ledger.close()
    print(f"{batches} open batches waiting at a QA gate, one worker caching up to {cache}")
    print(f"  started in {started:.1f} s ({batches / started:.1f} batches/s)")
    print(f"  all waiting after {all_waiting:.1f} s ({len(waiting)} of {batches})")
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    print(f"  record query on {len(latencies)} of them: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(
        f"  worker RSS {before:.0f} MiB before, {after:.0f} MiB after: "
        f"{(after - before) / batches * 1024:.0f} KiB per open batch"
    )


if __name__ == "__main__":
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--cache", type=int, default=DEFAULT_WORKFLOW_CACHE)
    parser.add_argument("--sample", type=int, default=500, help="batches queried")
    args = parser.parse_args()
    asyncio.run(main(args.batches, args.cache, args.sample))
