"""`wait_for`: ask an outside system (optionally), then wait for its report by a deadline;
follow a rescheduled collection (move the slot) and keep waiting."""

from __future__ import annotations

from workflows.engine import calls, journal, recording
from workflows.engine.context import StepContext
from workflows.engine.errors import RETRY_OR_ABANDON, StepFailed
from workflows.language import WaitFor
from workflows.model import AuditAction, DeviationKind


async def run(ctx: StepContext, step: WaitFor) -> None:
    """Wait for the step's report; record its results; an infusion report marks the batch."""
    state = ctx.state
    ask, moves = step.ask, 0
    while True:
        event = await calls.ask_and_wait(
            state, step.name, step.event, ask, step.deadline, records=step.records
        )
        if event.outcome != "rescheduled" or step.on_reschedule is None:
            break
        # The outside world moved the work: follow it (move the slot), then wait again.
        # The step keeps expecting its report meanwhile, so a prompt one is not refused.
        moves += 1
        new_date = event.data.get("new_date", "")
        journal.audit(state, event.reporter, AuditAction.STEP_RESCHEDULED, step.name, new=new_date)
        state.expecting[step.name] = step.event
        await calls.call_step(
            state,
            step.on_reschedule,
            step.name,
            extra={"new_date": new_date},
            key_suffix=f"moved{moves}",
        )
        ask = None
    if event.outcome != "ok":
        raise StepFailed(
            DeviationKind.STEP_FAILED,
            f"{event.reporter} reported {event.type} with outcome '{event.outcome}'",
            RETRY_OR_ABANDON,
        )
    recording.absorb_event(state, step.name, event)
    if step.infusion:
        state.rec.infused = True
        journal.audit(state, event.reporter, AuditAction.BATCH_INFUSED, step.name)
    missing = [r for r in step.records if r not in event.results]
    if missing:
        raise StepFailed(
            DeviationKind.STEP_FAILED,
            f"report lacks required results: {', '.join(missing)}",
            RETRY_OR_ABANDON,
        )
