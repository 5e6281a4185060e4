"""Event-to-visible-status latency: from a report sent to where people see its effect.

One batch at a time (default 50 samples) waits for an MES report on the embedded dev server,
worker in this process. The report is sent as the integration path sends it (`report_event`,
a Temporal update), and the batch moves on to its review stage. Measured from the moment the
report is sent until: the update is acknowledged; the batch record (the query the console and
CLI read) shows the new stage; Temporal visibility (the board's list, by search attribute)
shows it; the ledger (the batch record that outlives Temporal) holds the stage entry.

    .venv/bin/python -m benchmarks.latency [--samples 50]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client

from benchmarks.server import embedded_server, percentile, simulated_network
from records import Ledger
from tests.harness import order
from vein2vein.worker import build_worker
from workflows import Role, call, gate, hours, minutes, process, stage, task, wait_for
from workflows.client import new_batch_id, report_event, start_batch
from workflows.model import AuditAction, BatchRecord, ExternalEvent

LATENCY = process(
    "bench-report-latency",
    version="1",
    title="Wait for one MES report, then a review gate (latency benchmark)",
    specification={},
    stages=[
        stage(
            "production",
            task("allocate_coi", call("allocate_coi", at="system", timeout=minutes(1), attempts=3)),
            wait_for("harvest", "mes.operation_done", deadline=hours(1)),
        ),
        stage("review", gate("approve", roles=(Role.QA,), meaning="approval")),
    ],
)

#: Where each figure is read, in the order printed.
VIEWS = ("update acknowledged", "batch record (query)", "visibility (board list)", "ledger")


async def _until(probe: Callable[[], Awaitable[bool]], pause: float) -> float:
    """Poll `probe` until true; the perf_counter time it first was."""
    while not await probe():
        await asyncio.sleep(pause)
    return time.perf_counter()


async def _record(client: Client, batch_id: str) -> BatchRecord:
    rec: BatchRecord = await client.get_workflow_handle(batch_id).query(
        "record", result_type=BatchRecord
    )
    return rec


async def _sample(client: Client, ledger: Ledger) -> list[float]:
    """One batch: seconds from the report sent to each view showing its effect."""
    batch_id = new_batch_id()
    await start_batch(client, LATENCY, order(), batch_id=batch_id)

    async def waiting() -> bool:
        rec = await _record(client, batch_id)
        return any(a.target == "harvest" for a in rec.awaiting) and len(
            ledger.entries(batch_id)
        ) == len(rec.audit)

    await _until(waiting, 0.05)
    event = ExternalEvent(
        event_id=f"{batch_id}:harvest",
        batch_id=batch_id,
        step="harvest",
        type="mes.operation_done",
        reporter="MFG-EAST/operator",
        occurred_at=datetime.now(UTC),
    )

    async def acknowledged() -> float:
        await report_event(client, event)
        return time.perf_counter()

    async def in_record() -> bool:
        return (await _record(client, batch_id)).stage == "review"

    async def in_visibility() -> bool:
        query = f"WorkflowId = '{batch_id}' AND BatchStage = 'review'"
        return bool([wf async for wf in client.list_workflows(query)])

    async def in_ledger() -> bool:
        entries = await asyncio.to_thread(ledger.entries, batch_id)
        return any(e.action == AuditAction.STAGE_ENTERED and e.subject == "review" for e in entries)

    t0 = time.perf_counter()
    seen = await asyncio.gather(
        acknowledged(),
        _until(in_record, 0.005),
        _until(in_visibility, 0.02),
        _until(in_ledger, 0.005),
    )
    await client.get_workflow_handle(batch_id).cancel()
    return [t - t0 for t in seen]


async def main(samples: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with embedded_server(Path(tmp)) as (client, _pid):
            net = simulated_network(client, Path(tmp))
            async with build_worker(client, net.activities, products=[LATENCY]):
                rows = [await _sample(client, net.ledger) for _ in range(samples)]
            net.ledger.close()
    print(f"{samples} reports, one batch at a time, on the embedded dev server")
    print(f"{'report to':<26} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for i, view in enumerate(VIEWS):
        col = [r[i] * 1000 for r in rows]
        p50, p99 = percentile(col, 0.5), percentile(col, 0.99)
        print(f"{view:<26} {p50:>8.0f} {p99:>8.0f} {max(col):>8.0f}")


if __name__ == "__main__":
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    asyncio.run(main(parser.parse_args().samples))
