"""Projecting the audit journal into the ledger: in order, exactly once, until the record is
closed. A projection that keeps failing holds the batch for a person; it never fails it.

An ordinary activity, deliberately not a local one: a local activity runs inside the workflow
task that produced the events, before that task is committed. A worker killed mid-task leaves
events in the ledger that the retried task then produces differently (another timestamp, or
another order of concurrent reports); the chaos test (`tests/realserver/test_chaos.py`) caught
exactly that as a ledger conflict. An activity is scheduled by a committed task, so it only
ever carries events the history holds."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.engine.failures import open_deviation
from workflows.engine.state import BatchState
from workflows.model import DecisionAction, DeviationKind

#: The ledger projection is a local write; bounded like every other call.
PROJECT_TIMEOUT = timedelta(seconds=10)
PROJECT_RETRY = RetryPolicy(maximum_attempts=20, maximum_interval=timedelta(minutes=1))


async def project_loop(state: BatchState) -> None:
    """Project audit events into the ledger, in order, until the record is closed."""
    rec = state.rec
    while True:
        await workflow.wait_condition(lambda: len(rec.audit) > state.projected or state.closed)
        batch = rec.audit[state.projected :]
        if batch:
            try:
                await workflow.execute_activity(
                    "project_audit",
                    batch,
                    summary="ledger",
                    start_to_close_timeout=PROJECT_TIMEOUT,
                    retry_policy=PROJECT_RETRY,
                )
            except ActivityError as err:
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
            state.projected += len(batch)
        elif state.closed:
            return
