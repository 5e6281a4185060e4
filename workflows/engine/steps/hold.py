"""`hold`: the maximum time between the end of two steps, enforced by a durable timer that
opens a deviation even when nobody reports anything."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.engine import failures, journal
from workflows.engine.context import StepContext
from workflows.engine.errors import CONTINUE_OR_ABANDON
from workflows.language import Hold
from workflows.model import Clock, ClockKind, DeviationKind


async def run(ctx: StepContext, step: Hold) -> None:
    """Arm the hold's timer in the background; the process goes on at once."""
    state = ctx.state
    started = state.done_at.get(step.start)
    if started is None:  # validation places holds after their start; be safe on replay
        return
    deadline = started + step.max
    state.deadlines[step.name] = deadline
    journal.refresh(state)

    def stopped(*, ended: datetime | None, breached: bool) -> None:
        state.rec.stopped_clocks.append(
            Clock(
                name=step.name,
                kind=ClockKind.HOLD,
                started=started,
                limit=deadline,
                ended=ended,
                breached=breached,
            )
        )

    async def watch() -> None:
        remaining = deadline - workflow.now()
        try:
            if remaining <= timedelta(0):
                raise TimeoutError
            await workflow.wait_condition(
                lambda: state.done_at.get(step.end, started) > started or state.closed,
                timeout=remaining,
                timeout_summary=f"hold {step.name}",
            )
            ended = state.done_at.get(step.end)
            if ended is not None and ended > started:
                stopped(ended=ended, breached=False)
        except TimeoutError:
            stopped(ended=None, breached=True)
            failures.open_deviation(
                state,
                DeviationKind.HOLD_BREACHED,
                step.name,
                f"more than {step.max} between {step.start} and {step.end}",
                CONTINUE_OR_ABANDON,
            )
        finally:
            state.deadlines.pop(step.name, None)
            journal.refresh(state)

    state.watchers.append(asyncio.create_task(watch()))
