"""`parallel`: steps that run at once; the group ends when all of them have."""

from __future__ import annotations

import asyncio

from workflows.engine.context import StepContext
from workflows.language import Parallel


async def run(ctx: StepContext, step: Parallel) -> None:
    """Run every inner step at once; one that unwinds cancels the others."""
    tasks = [
        asyncio.create_task(ctx.execute(ctx.state, s, ctx.stage, ctx.iteration)) for s in step.steps
    ]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        raise
