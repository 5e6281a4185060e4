"""`repeat`: run steps again, a bounded number of times, until a result meets specification."""

from __future__ import annotations

from workflows.engine import journal
from workflows.engine.context import StepContext
from workflows.engine.errors import EXCEPTION_OR_ABANDON, Abandon, StepFailed
from workflows.language import Repeat
from workflows.model import AuditAction, DeviationKind


async def run(ctx: StepContext, step: Repeat) -> None:
    """Each attempt is a new iteration of the inner steps; exhaustion abandons or deviates."""
    state = ctx.state
    for i in range(1, step.max_times + 1):
        for inner in step.steps:
            await ctx.execute(state, inner, ctx.stage, i)
        result = state.rec.results.get(step.until)
        if result is not None and result.in_specification:
            return
        journal.audit(
            state, journal.SYSTEM, AuditAction.REPEAT_UNSUCCESSFUL, step.name, new=f"attempt {i}"
        )
    description = f"{step.until} not met after {step.max_times} attempt(s)"
    if step.on_exhausted == "abandon":
        raise Abandon(f"{step.name}: {description}")
    # What falls short is a specified result: only an exceptional release accepts it.
    raise StepFailed(
        DeviationKind.REPEAT_EXHAUSTED, description, EXCEPTION_OR_ABANDON, (step.until,)
    )
