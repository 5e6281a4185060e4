"""Audit events riding with the batch's own calls: what a call about to leave carries, and
what its outcome confirms (`workflows.engine.projection` sends the rest)."""

from __future__ import annotations

from workflows.engine import search
from workflows.engine.state import BatchState
from workflows.model import AuditEvent

#: Patch id: audit events ride with the batch's own calls.
CARRY_PATCH = "audit-carried-by-calls"


def carry(state: BatchState) -> tuple[list[AuditEvent], int]:
    """The events a call about to be scheduled carries, and the journal length they reach."""
    if not state.carry:
        return [], state.projected
    search.flush(state)
    end = len(state.rec.audit)
    state.carried = end
    return state.rec.audit[state.projected : end], end


def carried(state: BatchState, end: int, landed: bool) -> None:
    """A carrier finished: confirm its events, or leave them to the projection loop."""
    if not state.carry:
        return
    if landed:
        state.projected = max(state.projected, end)
        state.carried = max(state.carried, state.projected)
    else:
        # Unknown whether they reached the ledger: the loop writes them again (skipped if so).
        state.carried = state.projected
