"""Projecting the audit journal into the ledger: in order, exactly once, until the record is
closed. A projection that keeps failing holds the batch for a person; it never fails it.

Each projection is a local activity (from `PATCH_LOCAL_PROJECTION` on): it runs inside the
workflow task that produced the events, so it costs one marker in the history instead of an
activity's three events, the workflow task that follows its completion, and a copy of the
events in the history (a local activity's input is not recorded). The ledger write is
idempotent by event key, so a local activity repeated after a worker crash writes nothing
twice. Batches whose history already projected with activities keep doing so."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.engine.failures import open_deviation
from workflows.engine.state import BatchState
from workflows.model import AuditEvent, DecisionAction, DeviationKind

#: The ledger projection is a local write; bounded like every other call.
PROJECT_TIMEOUT = timedelta(seconds=10)
PROJECT_RETRY = RetryPolicy(maximum_attempts=20, maximum_interval=timedelta(minutes=1))
PATCH_LOCAL_PROJECTION = "audit-projection-local-activity"


async def _project(state: BatchState, batch: list[AuditEvent]) -> None:
    # Asked once per run, at its first projection: a run that began on activities stays there.
    if state.local_projection is None:
        state.local_projection = workflow.patched(PATCH_LOCAL_PROJECTION)
    if state.local_projection:
        await workflow.execute_local_activity(
            "project_audit",
            batch,
            summary="ledger",
            start_to_close_timeout=PROJECT_TIMEOUT,
            retry_policy=PROJECT_RETRY,
        )
        return
    await workflow.execute_activity(
        "project_audit",
        batch,
        summary="ledger",
        start_to_close_timeout=PROJECT_TIMEOUT,
        retry_policy=PROJECT_RETRY,
    )


async def project_loop(state: BatchState) -> None:
    """Project audit events into the ledger, in order, until the record is closed."""
    rec = state.rec
    while True:
        await workflow.wait_condition(lambda: len(rec.audit) > state.projected or state.closed)
        batch = rec.audit[state.projected :]
        if batch:
            try:
                await _project(state, batch)
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
