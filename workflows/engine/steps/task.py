"""`task`: run one activity; record what it computed and judge it like any result."""

from __future__ import annotations

from workflows.engine import calls, recording
from workflows.engine.context import StepContext
from workflows.engine.errors import RETRY_OR_ABANDON, StepFailed
from workflows.language import Task
from workflows.model import DeviationKind


async def run(ctx: StepContext, step: Task) -> None:
    """Call the activity; a declared result it did not compute fails the step."""
    state = ctx.state
    output = await calls.call_step(state, step.call, step.name, records=step.records)
    recording.absorb(state, step.name, output)
    missing = [r for r in step.records if r not in output.results]
    if missing:
        raise StepFailed(
            DeviationKind.STEP_FAILED,
            f"{step.call.activity} did not compute {', '.join(missing)}",
            RETRY_OR_ABANDON,
        )
