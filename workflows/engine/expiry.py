"""Shelf life of material a batch holds: a durable timer from the moment the batch receives it.

An activity that gives the batch material with a shelf life (an allocated dose of a released
lot) says when it expires (`StepOutput.expires`). From then a clock runs in the background; if
the material expires before it is administered, a blocking deviation opens by itself, and only
an exceptional release (at the physician's signed request) or abandonment disposes of it. Stock
in inventory needs no timer: allocation never hands out a dose past its shelf life
(`records.reservations`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.engine import failures, journal
from workflows.engine.errors import EXCEPTION_OR_ABANDON
from workflows.engine.state import BatchState
from workflows.model import Clock, ClockKind, DeviationKind


def watch(state: BatchState, step: str, expires: datetime) -> None:
    """Start the shelf-life clock of the material `step` gave the batch (once per step)."""
    if step in state.expiries:
        return
    state.expiries[step] = (workflow.now(), expires)
    journal.refresh(state)
    state.watchers.append(asyncio.create_task(_watch(state, step, expires)))


async def _watch(state: BatchState, step: str, expires: datetime) -> None:
    started = state.expiries[step][0]

    def stopped(*, ended: datetime | None, breached: bool) -> None:
        clock = Clock(
            name=step,
            kind=ClockKind.SHELF_LIFE,
            started=started,
            limit=expires,
            ended=ended,
            breached=breached,
        )
        state.rec.stopped_clocks.append(clock)

    try:
        remaining = expires - workflow.now()
        if remaining <= timedelta(0):
            raise TimeoutError
        await workflow.wait_condition(
            lambda: state.rec.infused or state.closed,
            timeout=remaining,
            timeout_summary=f"shelf life {step}",
        )
        if state.rec.infused:
            stopped(ended=workflow.now(), breached=False)
    except TimeoutError:
        stopped(ended=None, breached=True)
        failures.open_deviation(
            state,
            DeviationKind.MATERIAL_EXPIRED,
            step,
            f"the material {step} gave the batch expired at {expires.isoformat()} before "
            "administration",
            EXCEPTION_OR_ABANDON,
        )
    finally:
        state.expiries.pop(step, None)
        journal.refresh(state)
