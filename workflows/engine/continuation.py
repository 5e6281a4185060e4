"""Continuing as new: carry the record and position into a fresh run, so that no history or
run timeout grows with a patient's lifetime (15 years of follow-up)."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.engine import metering
from workflows.engine.state import BatchState


async def continue_as_new(state: BatchState, visit: int, origin: datetime) -> None:
    """Wait until the ledger has every event and no handler runs, then continue as new."""
    rec = state.rec
    await workflow.wait_condition(
        lambda: (
            state.projected == len(rec.audit)
            and not state.search_due
            and workflow.all_handlers_finished()
        )
    )
    metering.released(state)
    resume = state.resume(visit, origin)
    workflow.continue_as_new(state.start.model_copy(update={"resume": resume}))
