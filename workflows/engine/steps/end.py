"""`end`: the process ends here, cleanly; the workflow compensates and closes the batch."""

from __future__ import annotations

from workflows.engine.context import StepContext
from workflows.engine.errors import EndBatch
from workflows.language import End


async def run(ctx: StepContext, step: End) -> None:
    """Unwind to the workflow, which compensates and records the outcome."""
    raise EndBatch(step.name, step.outcome)
