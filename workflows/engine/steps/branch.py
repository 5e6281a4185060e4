"""`branch`: run the steps of the case that what the batch knows selects."""

from __future__ import annotations

from workflows.engine import journal
from workflows.engine.context import StepContext
from workflows.engine.errors import RETRY_OR_ABANDON, StepFailed
from workflows.engine.state import BatchState
from workflows.language import Branch
from workflows.model import AuditAction, DeviationKind


def outcome(state: BatchState, step: Branch) -> str | None:
    """The outcome that selects the case: a recorded result's value, or an order option."""
    rec = state.rec
    if step.by == "option":
        return rec.options.get(step.on)
    result = rec.results.get(step.on)
    return None if result is None else str(result.value)


async def run(ctx: StepContext, step: Branch) -> None:
    """Choose the case, record the choice, run its steps in order."""
    state = ctx.state
    value = outcome(state, step)
    chosen = step.cases.get(value) if value is not None else None
    if chosen is None:
        chosen = step.otherwise
    if value is None or chosen is None:
        # Compilation covers every outcome; only a missing or unforeseen value lands here.
        raise StepFailed(
            DeviationKind.STEP_FAILED,
            f"no case for {step.by} '{step.on}' = {value!r}",
            RETRY_OR_ABANDON,
        )
    journal.audit(state, journal.SYSTEM, AuditAction.BRANCH_TAKEN, step.name, new=value)
    for inner in chosen:
        await ctx.execute(state, inner, ctx.stage, ctx.iteration)
