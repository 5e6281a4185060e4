"""Projecting the audit journal into the ledger: in order, exactly once, until the record is
closed. A projection that keeps failing holds the batch for a person; it never fails it.

Events ride with the batch's next activity (`workflows.engine.carrying`): the step's own call
writes the events recorded since the last confirmed write before it acts (`activities.runtime`),
so a batch that moves from call to call spends no extra Temporal round trip on its audit trail.
Only events no call is about to carry (the batch waits for a person, a report or a timer, or it
closes) go by a `project_audit` activity of their own; events a message recorded while a call
was in flight wait a little for that call first (`AWAIT_CALL_PATCH`), since under load a report
and the result of the call that asked for it often reach the batch in one workflow task.
Either way the carrier is an ordinary activity, scheduled by a committed workflow task, so it
only ever carries events the history holds; a local activity would run inside the task that
produced the events, before that task is committed, and a worker killed mid-task would leave
events in the ledger that the retried task then produces differently (the chaos test,
`tests/realserver/test_chaos.py`, caught exactly that).

Every carrier writes from the last confirmed event on, and the ledger skips events it already
holds, so two carriers in flight at once, or a carrier whose outcome is unknown, cost a repeated
write, never a gap. Batches recorded before carrying existed replay with one `project_audit` per
batch of events (`workflows.engine.carrying.CARRY_PATCH`).
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.engine import search
from workflows.engine.failures import open_deviation
from workflows.engine.state import BatchState
from workflows.model import DecisionAction, DeviationKind

#: Patch id: events recorded while a step's call is in flight wait up to `CARRY_GRACE` for it.
AWAIT_CALL_PATCH = "events-await-the-call-in-flight"
#: How long such events wait for the call in flight (and the next call to carry them).
CARRY_GRACE = timedelta(seconds=30)

#: The ledger projection is a local write; bounded like every other call.
PROJECT_TIMEOUT = timedelta(seconds=10)
PROJECT_RETRY = RetryPolicy(maximum_attempts=20, maximum_interval=timedelta(minutes=1))


async def project_loop(state: BatchState) -> None:
    """Project audit events no call carries into the ledger, in order, until the record is
    closed."""
    rec = state.rec

    def uncarried() -> bool:
        return len(rec.audit) > (state.carried if state.carry else state.projected)

    while True:
        await workflow.wait_condition(lambda: uncarried() or state.closed or state.search_due)
        if state.await_calls and uncarried() and state.calls_in_flight and not state.closed:
            # A message (a report, a signature) recorded events while a call was in flight; its
            # result is often in the same workflow task, applied after the message, and the
            # batch's next call carries them. A timer bounds the wait (started and cancelled in
            # tasks the batch has anyway) for a call that takes its time.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: not uncarried() or not state.calls_in_flight or state.closed,
                    timeout=CARRY_GRACE,
                )
        if state.carry:
            # Let every other coroutine of this task run until it blocks (conditions are only
            # checked when nothing else is ready): a call scheduled meanwhile carries the
            # events, and this loop has nothing left to send.
            await workflow.wait_condition(lambda: True)
            search.flush(state)
            if not uncarried() and not state.closed:
                continue
        start, end = state.projected, len(rec.audit)
        batch = rec.audit[start:end]
        if batch:
            state.carried = max(state.carried, end)
            try:
                await workflow.execute_activity(
                    "project_audit",
                    batch,
                    summary="ledger",
                    start_to_close_timeout=PROJECT_TIMEOUT,
                    retry_policy=PROJECT_RETRY,
                )
            except ActivityError as err:
                state.carried = state.projected
                # The record must reach the ledger: hold the batch for a person, not fail it.
                dev = open_deviation(
                    state,
                    DeviationKind.RETRIES_EXHAUSTED,
                    "ledger",
                    f"audit projection failed: {err.cause or err}",
                    (DecisionAction.RETRY,),
                )
                dev_id = dev.deviation_id
                await workflow.wait_condition(
                    lambda dev_id=dev_id: dev_id in state.dispositions  # type: ignore[misc]
                )
                continue
            state.projected = max(state.projected, end) if state.carry else start + len(batch)
            state.carried = max(state.carried, state.projected)
        elif state.closed:
            return
