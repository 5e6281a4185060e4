"""The audit trail reaches the ledger with the batch's own calls, and whole whatever a call does.

A batch moving from call to call spends no Temporal round trip on its audit trail: each call
carries the events recorded since the last confirmed write, and only the close (or a wait) has a
`project_audit` of its own. A report that answers a wait is carried by the call the batch makes
next, in the same workflow task. A call that does not say it wrote its events (an implementation
that ignores them) leaves them to the projection loop: the ledger still holds every event once,
in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.worker import Worker

from activities import KNOWN_ACTIVITIES, Activities, SimulatedReport, SimulatedWorld
from tests.harness import Harness, order
from vein2vein.worker import make_world
from vein2vein.workflow_runner import batch_runner
from workflows import activity as declare
from workflows import call, days, minutes, process, stage, task, wait_for
from workflows.client import new_batch_id, report_event, start_batch
from workflows.definition import CompiledDefinition
from workflows.model import BatchRecord, BatchStatus, ExternalEvent, StepCall, StepOutput
from workflows.registry import workflow_type

QUEUE = "carried-audit"

CALLS = process(
    "test-carried-audit",
    version="1",
    title="Four calls in a row, nothing to wait for",
    specification={},
    activities=[declare("carry_step", "A trivial call to the site")],
    stages=[
        stage(
            "only",
            *(
                task(
                    f"step{n}",
                    call("carry_step", at="manufacturing_site", timeout=minutes(1), attempts=3),
                )
                for n in range(1, 5)
            ),
        )
    ],
)


#: Three operations, each asked of the MES and answered by its report.
REPORTED = process(
    "test-carried-reports",
    version="1",
    title="Three operations in a row, each answered by a report",
    specification={},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            *(
                wait_for(
                    f"op{n}",
                    "mes.operation_done",
                    ask=call(
                        "start_operation",
                        at="manufacturing_site",
                        timeout=minutes(1),
                        attempts=3,
                        operation=f"op{n}",
                    ),
                    deadline=days(2),
                )
                for n in range(1, 4)
            ),
        )
    ],
)


#: An operation whose call the test holds while the MES reports it, then a call after it.
HELD = process(
    "test-held-call",
    version="1",
    title="A report arriving while the call that asked for it is still running",
    specification={},
    activities=[declare("carry_step", "A trivial call to the site")],
    stages=[
        stage(
            "only",
            wait_for(
                "asked",
                "mes.operation_done",
                ask=call("carry_step", at="manufacturing_site", timeout=minutes(1), attempts=3),
                deadline=days(2),
            ),
            task(
                "after", call("carry_step", at="manufacturing_site", timeout=minutes(1), attempts=3)
            ),
        )
    ],
)


class HeldSite:
    """A site whose first call waits until the test lets it go."""

    def __init__(self) -> None:
        self.called = asyncio.Event()
        self.release = asyncio.Event()

    async def perform(self, call: StepCall) -> StepOutput:
        """Answer at once, except the first step's call, which waits for `release`."""
        if call.step == "asked":
            self.called.set()
            await self.release.wait()
        return StepOutput(data={"done": call.step})


@activity.defn(name="carry_step")
async def ignores_its_audit(call: StepCall) -> StepOutput:
    """An implementation written without the framework's wrapper: it never writes `call.audit`."""
    return StepOutput(data={"done": call.step})


def _worker(harness: Harness, *, naive: bool, product: str = CALLS.product) -> Worker:
    # A world of its own: `make_world` points a world's reports at its task queue, and the
    # shared one must keep reporting to the shared worker.
    world = SimulatedWorld(seed=5)
    acts: list[Callable[..., Any]] = make_world(
        harness.client, ledger=harness.ledger, world=world, task_queue=QUEUE
    ).all({"carry_step": "A trivial call to the site"})
    if naive:
        acts = [a for a in acts if a.__name__ != "carry_step"] + [ignores_its_audit]
    return Worker(
        harness.client,
        task_queue=QUEUE,
        workflows=[workflow_type(product), SimulatedReport],
        activities=acts,
        activity_executor=ThreadPoolExecutor(max_workers=4),
        workflow_runner=batch_runner(),
    )


async def _run(
    harness: Harness, naive: bool, definition: CompiledDefinition = CALLS
) -> tuple[BatchRecord, list[str]]:
    async with _worker(harness, naive=naive, product=definition.product):
        handle: WorkflowHandle[Any, Any] = await start_batch(
            harness.client, definition, order(), batch_id=new_batch_id(), task_queue=QUEUE
        )
        # Not `handle.result()`: on the shared time-skipping server, awaiting a result unlocks
        # time skipping, and the tests after this one stalled.
        rec = await harness.finish(handle)
        return rec, await _scheduled(handle)


def _assert_ledger_holds_the_record(harness: Harness, rec: BatchRecord) -> None:
    entries = harness.ledger.entries(rec.batch_id)
    assert [(e.seq, e.action, e.subject) for e in entries] == [
        (e.seq, e.action, e.subject) for e in rec.audit
    ]


@pytest.mark.requirement("P11-10e", "ALCOA-A")
async def test_calls_carry_the_audit_trail_and_only_the_close_projects_alone(
    harness: Harness,
) -> None:
    rec, scheduled = await _run(harness, naive=False)

    assert rec.status == BatchStatus.COMPLETED
    assert scheduled.count("carry_step") == 4
    assert scheduled.count("project_audit") == 1
    _assert_ledger_holds_the_record(harness, rec)


async def test_a_report_arriving_while_its_call_runs_rides_with_the_next_call(
    harness: Harness,
) -> None:
    # Under load the MES's report often reaches the batch before (or with) the result of the
    # call that asked for it: its events wait for that call, and the next call carries them.
    site = HeldSite()
    acts = Activities(
        adapter_for=lambda _site: site, ledger=harness.ledger, client=harness.client
    ).all({"carry_step": "A trivial call to the site"})
    async with Worker(
        harness.client,
        task_queue=QUEUE,
        workflows=[workflow_type(HELD.product)],
        activities=acts,
        activity_executor=ThreadPoolExecutor(max_workers=4),
        workflow_runner=batch_runner(),
    ):
        handle: WorkflowHandle[Any, Any] = await start_batch(
            harness.client, HELD, order(), batch_id=new_batch_id(), task_queue=QUEUE
        )
        await asyncio.wait_for(site.called.wait(), 30)
        rec = await harness.record(handle)
        await report_event(
            harness.client,
            ExternalEvent(
                event_id=f"{handle.id}-done",
                batch_id=handle.id,
                step="asked",
                type="mes.operation_done",
                reporter="mes",
                occurred_at=rec.audit[-1].at,
            ),
        )
        assert await _scheduled(handle) == ["carry_step"]  # nothing projected alone
        site.release.set()
        # Real time, not skipped: the report is in, nothing waits on a clock.
        await harness.settle([handle], lambda r: r.finished)
        rec = await harness.finish(handle)
        scheduled = await _scheduled(handle)

    assert rec.status == BatchStatus.COMPLETED
    assert scheduled == ["carry_step", "carry_step", "project_audit"]
    _assert_ledger_holds_the_record(harness, rec)


async def _scheduled(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The activity types the batch scheduled, in order."""
    history = await handle.fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def test_a_report_rides_with_the_next_call(harness: Harness) -> None:
    rec, scheduled = await _run(harness, naive=False, definition=REPORTED)

    assert rec.status == BatchStatus.COMPLETED
    assert scheduled.count("start_operation") == 3
    # Each report's events (the event received, the step done) went with the next operation's
    # call, the last ones with the close: no projection of their own in between.
    assert scheduled.count("project_audit") == 1
    _assert_ledger_holds_the_record(harness, rec)


async def test_a_call_that_does_not_write_its_events_leaves_them_to_the_projection(
    harness: Harness,
) -> None:
    rec, scheduled = await _run(harness, naive=True)

    # Had the batch taken the unconfirmed events as written, the close would have projected
    # from a later seq: the ledger refuses a gap, and the batch would be held, not completed.
    assert rec.status == BatchStatus.COMPLETED
    assert scheduled.count("carry_step") == 4
    _assert_ledger_holds_the_record(harness, rec)
