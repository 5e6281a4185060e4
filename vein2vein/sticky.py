"""Take running batches off the sticky queues of workers that may be gone, before polling.

After a worker dies, the server keeps sending each of its batches' next workflow task to that
worker's sticky queue until it has seen no poll there for 10 s (fixed in the server), and each
such task then waits out the sticky timeout (`vein2vein.worker.STICKY_TIMEOUT`) before any other
worker may take it: a batch whose call finished 9 s after the crash cannot move for 14 s. A
worker that starts cannot tell a dead peer from a live one, so it releases every running batch
on its task queue (Temporal's `ResetStickyTaskQueue`) before it takes any task: from then on
their tasks go to the task queue, where every worker polls. The price for a batch cached by a
live worker is one replay from its history on whichever worker takes its next task.

Best effort and bounded: it never holds up a worker start for longer than `budget`, and a batch
it could not release (ended meanwhile, RPC refused) only keeps the default behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

log = logging.getLogger("vein2vein.sticky")

#: How the log line reporting a release begins (`benchmarks.recovery` reads its time).
RELEASED = "sticky release"

#: Releases in flight at once: enough to finish 1,000 batches in a few seconds without
#: queueing behind the server's other work after a crash.
CONCURRENCY = 16
#: One release's deadline: a server slow to answer must not hold the worker start.
RPC_TIMEOUT = timedelta(seconds=5)
#: The longest a worker start waits for the releases; what is left keeps the default behaviour.
BUDGET = timedelta(seconds=10)


async def release_sticky_batches(
    client: Client, task_queue: str, *, budget: timedelta = BUDGET
) -> int:
    """Release every running workflow on `task_queue` from its sticky queue; returns how many
    were released within `budget` (the rest are left as they are, and logged)."""
    started = time.monotonic()
    query = f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"
    released = 0
    pending: set[asyncio.Task[bool]] = set()

    async def release(workflow_id: str, run_id: str) -> bool:
        request = ResetStickyTaskQueueRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
        try:
            await client.workflow_service.reset_sticky_task_queue(
                request, retry=False, timeout=RPC_TIMEOUT
            )
        except RPCError:
            return False  # it ended meanwhile, or the server refused: nothing is lost
        return True

    async def drain(limit: int) -> None:
        nonlocal released, pending
        while len(pending) > limit:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            released += sum(1 for t in done if t.result())

    async def run() -> None:
        async for wf in client.list_workflows(query, rpc_timeout=RPC_TIMEOUT):
            pending.add(asyncio.create_task(release(wf.id, wf.run_id)))
            await drain(CONCURRENCY - 1)
        await drain(0)

    try:
        await asyncio.wait_for(run(), timeout=budget.total_seconds())
    except (TimeoutError, RPCError) as err:
        for task in pending:
            task.cancel()
        log.warning("sticky release stopped early: %s", type(err).__name__)
    log.info(
        "%s: %d running batches released from sticky queues in %.2f s",
        RELEASED,
        released,
        time.monotonic() - started,
    )
    return released
