"""Compensation: what undoes each started step, run in reverse when a batch is abandoned."""

from __future__ import annotations

from temporalio.exceptions import ActivityError

from workflows.engine import calls, journal
from workflows.engine.state import BatchState
from workflows.language import Step
from workflows.model import AuditAction

SYSTEM = journal.SYSTEM


def register(state: BatchState, step: Step) -> None:
    """Remember what undoes `step`, before it calls anyone: the outside world may act even if
    the answer never comes back."""
    undo = getattr(step, "compensation", None)
    if undo is not None and all(name != step.name for name, _ in state.compensations):
        state.compensations.append((step.name, undo))


async def abandon_batch(state: BatchState, reason: str) -> None:
    """Compensate what was done, then mark the batch abandoned."""
    rec = state.rec
    journal.audit(state, SYSTEM, AuditAction.BATCH_ABANDONING, rec.batch_id, reason=reason)
    await _compensate(state)
    rec.abandoned_reason = reason
    journal.audit(state, SYSTEM, AuditAction.BATCH_ABANDONED, rec.batch_id, reason=reason)


async def end_batch(state: BatchState, step: str, outcome: str) -> None:
    """Compensate what was done, then end the batch with `outcome` (an `end` step)."""
    rec = state.rec
    journal.audit(state, SYSTEM, AuditAction.BATCH_ENDING, step, new=outcome)
    await _compensate(state)
    rec.ended_outcome = outcome
    journal.audit(state, SYSTEM, AuditAction.BATCH_ENDED, rec.batch_id, new=outcome)


async def _compensate(state: BatchState) -> None:
    """Run every registered compensation in reverse, each recorded. A compensation that
    fails is recorded as failed; the others still run."""
    rec = state.rec
    for step_name, comp in reversed(state.compensations):
        try:
            await calls.call(state, comp, step_name, key_suffix="undo")
            rec.compensations.append(f"{step_name}: {comp.activity}")
            journal.audit(
                state, SYSTEM, AuditAction.COMPENSATION_DONE, step_name, new=comp.activity
            )
        except ActivityError as err:
            rec.compensations.append(f"{step_name}: {comp.activity} FAILED")
            journal.audit(
                state,
                SYSTEM,
                AuditAction.COMPENSATION_FAILED,
                step_name,
                new=comp.activity,
                reason=str(err),
            )
