"""A worker that starts takes running batches off a dead worker's sticky queue
(`vein2vein.sticky`). Without that, the server keeps sending a batch's next workflow task to the
queue of the worker that is gone for 10 s after its last poll, and the task waits out the sticky
timeout there before the new worker may take it."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueKind
from temporalio.api.history.v1 import HistoryEvent

from tests.realserver.conftest import Cluster, eventually
from tests.realserver.products import TIMERS

pytestmark = pytest.mark.realserver

#: The server's fixed window: a sticky queue with no poll for this long gets no new tasks.
STICKY_POLLER_WINDOW = timedelta(seconds=10)
#: How long before the batch's timer fires the worker is killed: the timer's task is then
#: created inside the window, about 7 s after a replacement that starts in 1-2 s is polling.
KILL_BEFORE_TIMER = timedelta(seconds=9)


def _sticky_queue(e: HistoryEvent) -> str | None:
    queue = e.workflow_task_scheduled_event_attributes.task_queue
    return queue.name if queue.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY else None


async def test_a_timer_firing_right_after_a_worker_crash_goes_to_the_new_worker(
    cluster: Cluster,
) -> None:
    cluster.start_worker()
    await cluster.worker_ready()
    batch_id = await cluster.start(TIMERS)
    await cluster.until_quiet(batch_id, "event mes.operation_done at dispatch")
    await cluster.report(batch_id, "dispatch", "mes.operation_done")  # starts the hold
    armed = await cluster.until_quiet(batch_id, "event site.arrived at arrival")
    assert armed.next_deadline is not None
    until_kill = armed.next_deadline - KILL_BEFORE_TIMER - datetime.now(UTC)
    await asyncio.sleep(max(0.0, until_kill.total_seconds()))

    assert cluster.kill_worker(signal.SIGKILL) == -signal.SIGKILL
    killed = datetime.now(UTC)
    cluster.start_worker()
    await cluster.worker_ready()  # it released the batch before it began to poll
    ready = datetime.now(UTC)
    # Read the history, not the record: a query to the dead worker's queue would make the
    # server take the batch off it by itself.

    async def history() -> list[HistoryEvent]:
        return [e async for e in cluster.handle(batch_id).fetch_history_events()]

    def moved_after_timer(events: list[HistoryEvent]) -> bool:
        kinds = [e.event_type for e in events]
        fired = EventType.EVENT_TYPE_TIMER_FIRED
        return (
            fired in kinds
            and EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in kinds[kinds.index(fired) :]
        )

    events = await eventually(history, moved_after_timer, what="the timer's task completed")
    at = [e.event_time.ToDatetime(tzinfo=UTC) for e in events]
    dead = {_sticky_queue(e) for e, t in zip(events, at, strict=True) if t < killed} - {None}
    assert dead, "the batch was never on the first worker's sticky queue"
    tasks = [
        e
        for e, t in zip(events, at, strict=True)
        if ready <= t < killed + STICKY_POLLER_WINDOW
        and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    ]
    assert tasks, f"no task inside the window: the new worker was ready {ready - killed} after"
    assert not [e for e in tasks if _sticky_queue(e) in dead], (
        "a task went to the dead worker's sticky queue after the new worker had started"
    )
    timed_out = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT]
    assert not timed_out, "a task waited out the sticky timeout on the dead worker's queue"
