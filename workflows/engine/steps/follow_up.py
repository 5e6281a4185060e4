"""`follow_up`: visits on a schedule of durable timers, one visit per run (continue-as-new);
a missed visit or an observation out of its limit is assessed without stopping the schedule."""

from __future__ import annotations

import contextlib

from temporalio import workflow

from workflows.engine import calls, failures, journal, recording
from workflows.engine.context import StepContext
from workflows.engine.continuation import continue_as_new
from workflows.engine.errors import CONTINUE_OR_ABANDON, StepFailed
from workflows.language import FollowUp
from workflows.model import AuditAction, DeviationKind


async def run(ctx: StepContext, step: FollowUp) -> None:
    """Each visit: sleep until its window opens, ask, wait for the report within the window."""
    state = ctx.state
    origin = state.resume_origin or workflow.now()
    first = state.resume_visit
    state.resume_origin, state.resume_visit = None, 1
    for n, offset in enumerate(step.visits, 1):
        if n < first:
            continue
        if n > first:
            # One visit per run: years of follow-up never accumulate in one history.
            await continue_as_new(state, n, origin)
        state.iterations[step.name] = n
        opens = origin + offset - step.window
        if opens > workflow.now():
            state.deadlines[step.name] = opens
            journal.refresh(state)
            # Sleep until the visit window opens; an abandonment still wakes the batch.
            with contextlib.suppress(TimeoutError):
                await calls.wait(state, lambda: False, timeout=opens - workflow.now())
        try:
            event = await calls.ask_and_wait(
                state, step.name, step.event, step.ask, step.window * 2, records=step.records
            )
        except StepFailed as failure:
            if failure.kind != DeviationKind.DEADLINE_MISSED:
                raise
            failures.open_deviation(
                state,
                DeviationKind.VISIT_MISSED,
                step.name,
                f"visit {n} (due {offset.days} days after start) not reported in time",
                CONTINUE_OR_ABANDON,
                blocking=False,
            )
            continue
        recording.absorb_event(state, step.name, event)
        journal.audit(
            state, event.reporter, AuditAction.VISIT_COMPLETED, step.name, new=f"visit {n}"
        )
        # A visit's observation out of its limit is assessed by QA; the schedule goes on.
        failures.judge_fresh(state, step.name, blocking=False)
