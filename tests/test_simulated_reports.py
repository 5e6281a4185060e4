"""The simulated world's reports: held by the server until they are due, then delivered.

A report the simulated MES or courier makes days after it was asked is a workflow the server
starts after the delay (a workflow start delay), not one that sleeps on a worker: until it is
due no worker has it cached, so a worker that dies takes no report with it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType

from tests.harness import Harness
from tests.products import FLAKY_BOOKING


async def test_a_report_is_started_by_the_server_when_due_and_delivered(harness: Harness) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "event mes.operation_done at expansion")
    report = harness.client.get_workflow_handle(
        f"sim-{handle.id}:expansion:start_operation:i1r0:report"
    )
    started = (await report.fetch_history()).events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    backoff = started.workflow_execution_started_event_attributes.first_workflow_task_backoff
    # The simulated expansion takes 192 h, give or take a tenth.
    assert timedelta(hours=170) < backoff.ToTimedelta() < timedelta(hours=215)

    rec = await harness.until_waiting(handle, "decision at approve")
    history = await report.fetch_history()
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_TIMER_STARTED not in kinds, "the report never sleeps on a worker"
    assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 2
    expansion = next(s for s in rec.steps if s.step == "expansion")
    assert expansion.ended_at is not None
    assert expansion.ended_at - expansion.started_at > timedelta(hours=170)
