"""Rework: going back to an earlier step after QA disposes of a deviation with a rework.

The definition declares where a batch may be reworked from (`rework(at, back_to=...)`); the
authority checks QA names one of those steps; here the engine moves the batch back. What the
steps to be run again did is superseded: their results leave the record's results (the audit
trail keeps them), they no longer count as done, and hold clocks started by them stop, to run
again from their new end.
"""

from __future__ import annotations

from workflows.definition import walk
from workflows.engine import journal
from workflows.engine.errors import Rework
from workflows.engine.state import BatchState
from workflows.model import AuditAction, DecisionAction


def rounds(state: BatchState) -> int:
    """Which pass over the process this is: 1, plus one per rework so far (read from the
    record, so it survives continue-as-new)."""
    return 1 + sum(d.disposition == DecisionAction.REWORK for d in state.rec.deviations)


def go_back(state: BatchState, rework: Rework) -> None:
    """Move the batch back to `rework.back_to`; everything from there to where it stands now
    is to be done again."""
    target = state.defn.top_level_position(rework.back_to)
    redo: set[str] = set()
    for si, st in enumerate(state.defn.stages):
        for pi, step in enumerate(st.steps):
            if target <= (si, pi) <= state.position:
                redo.update(inner.name for _, inner in walk(st.name, step))
    for name in redo:
        state.done_at.pop(name, None)
    rec = state.rec
    rec.results = {n: r for n, r in rec.results.items() if r.step not in redo}
    state.redone = frozenset(redo)
    state.reworks += 1
    state.position = target
    journal.audit(
        state,
        journal.SYSTEM,
        AuditAction.REWORK_STARTED,
        rework.back_to,
        reason=f"{rework.deviation_id}: again from {rework.back_to} (pass {rounds(state)})",
    )
