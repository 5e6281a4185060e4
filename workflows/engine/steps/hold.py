"""`hold`: the time allowed between the end of two steps. A maximum is enforced by a durable
timer that opens a deviation even when nobody reports anything; a minimum defers the end
step until it has passed, and an end that comes earlier all the same opens a deviation."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.engine import failures, journal
from workflows.engine.context import StepContext
from workflows.engine.errors import CONTINUE_OR_ABANDON
from workflows.engine.state import BatchState
from workflows.language import Hold
from workflows.model import Clock, ClockKind, DeviationKind


async def run(ctx: StepContext, step: Hold) -> None:
    """Arm the hold's timer in the background; the process goes on at once."""
    state = ctx.state
    started = state.done_at.get(step.start)
    if started is None:  # validation places holds after their start; be safe on replay
        return
    if step.min is not None:
        state.not_before[step.end] = (started + step.min, step.name)
    deadline = started + step.max if step.max is not None else None
    if deadline is not None:
        state.deadlines[step.name] = deadline
    journal.refresh(state)
    state.watchers.append(asyncio.create_task(_watch(state, step, started, deadline)))


async def _watch(
    state: BatchState, step: Hold, started: datetime, deadline: datetime | None
) -> None:
    def stopped(*, ended: datetime | None, breached: bool) -> None:
        if deadline is not None:
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

    armed = state.reworks

    def superseded() -> bool:
        # A rework sent the start step back to be done again: this clock starts afresh then.
        return state.reworks > armed and step.start in state.redone

    try:
        remaining = deadline - workflow.now() if deadline is not None else None
        if remaining is not None and remaining <= timedelta(0):
            raise TimeoutError
        await workflow.wait_condition(
            lambda: state.done_at.get(step.end, started) > started or state.closed or superseded(),
            timeout=remaining,
            timeout_summary=f"hold {step.name}",
        )
        ended = state.done_at.get(step.end)
        if ended is not None and ended > started:
            stopped(ended=ended, breached=False)
            if step.min is not None and ended - started < step.min:
                failures.open_deviation(
                    state,
                    DeviationKind.INTERVAL_TOO_SHORT,
                    step.name,
                    f"{step.end} came {ended - started} after {step.start}, "
                    f"before the minimum of {step.min}",
                    CONTINUE_OR_ABANDON,
                )
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
        state.not_before.pop(step.end, None)
        journal.refresh(state)
