"""The step lifecycle, the same for every kind: wait while the batch is stopped, record the
run, dispatch to the kind's handler, judge what it recorded, and turn a failure into a
deviation that waits for a person's disposition."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import workflow

from workflows.engine import calls, compensation, failures, journal, recording
from workflows.engine.context import StepContext
from workflows.engine.errors import ANY_TECHNICAL, Abandon, EndBatch, Rework, StepFailed
from workflows.engine.state import BatchState
from workflows.engine.steps import handler
from workflows.language import Step
from workflows.model import AuditAction, DecisionAction, DeviationKind, StepState


async def execute(state: BatchState, step: Step, stage: str, iteration: int) -> None:
    """Run one step; a failure becomes a deviation and waits for a person's disposition."""
    kind = handler(step)
    ctx = StepContext(state=state, stage=stage, iteration=iteration, execute=execute)
    if not kind.lifecycle:
        await kind.run(ctx, step)
        return
    await _not_before(state, step.name)
    while True:
        await calls.wait(state, lambda: not state.rec.open_deviations(blocking_only=True))
        run_index = recording.resumed_run(state, step) if state.resume_origin else None
        if run_index is None:
            run_index = recording.begin(state, step, stage, iteration)
        try:
            try:
                compensation.register(state, step)
                await kind.run(ctx, step)
                failures.judge_fresh(state, step.name)
            except (StepFailed, Abandon, EndBatch, Rework, asyncio.CancelledError):
                raise
            except Exception as bug:
                workflow.logger.exception("unexpected error in step %s", step.name)
                raise StepFailed(
                    DeviationKind.RETRIES_EXHAUSTED,
                    f"internal error: {type(bug).__name__}: {bug}",
                    ANY_TECHNICAL,
                ) from bug
        except Rework:
            # A step inside this one is being reworked from an earlier step: this run ends.
            recording.end(state, run_index, StepState.FAILED)
            raise
        except StepFailed as failure:
            recording.end(state, run_index, StepState.FAILED)
            action = await failures.deviate(state, step.name, failure)
            if action == DecisionAction.RETRY:
                state.person_retries[step.name] = state.person_retries.get(step.name, 0) + 1
                continue
            if action == DecisionAction.EXCEPTIONAL_RELEASE:
                state.rec.exceptional_release = True
            # Continued as is (or accepted on conditions release waits for): the step counts
            # as done for what comes after it.
            state.done_at[step.name] = workflow.now()
            return
        recording.end(state, run_index, StepState.DONE)
        return


async def _not_before(state: BatchState, step: str) -> None:
    """Defer a step an interval says may not start yet (a minimum time since another step)."""
    earliest = state.not_before.get(step)
    if earliest is None or workflow.now() >= earliest[0]:
        return
    journal.audit(
        state,
        journal.SYSTEM,
        AuditAction.STEP_DEFERRED,
        step,
        new=earliest[0].isoformat(),
        reason=f"interval {earliest[1]}",
    )
    # A durable timer; an abandonment still wakes the batch.
    with contextlib.suppress(TimeoutError):
        await calls.wait(state, lambda: False, timeout=earliest[0] - workflow.now())
