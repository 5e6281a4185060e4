"""Deriving a batch's status from what happened; nothing ever sets it directly."""

from __future__ import annotations

from workflows.model import TECHNICAL_DEVIATIONS, BatchRecord, BatchStatus


def derive_status(rec: BatchRecord) -> BatchStatus:
    """The status that the record's facts imply, most final first.

    Quarantine (material may not move on) outranks held (the process waits for a person);
    both outrank released, because an open deviation after release still stops the batch.
    """
    if rec.abandoned_reason is not None:
        return BatchStatus.ABANDONED
    if rec.ended_outcome is not None:
        return BatchStatus.ENDED
    if rec.completed:
        return BatchStatus.COMPLETED
    open_kinds = {d.kind for d in rec.open_deviations(blocking_only=True)}
    if open_kinds - TECHNICAL_DEVIATIONS:
        return BatchStatus.QUARANTINED
    if open_kinds:
        return BatchStatus.HELD
    if rec.released:
        return BatchStatus.RELEASED
    if rec.steps:
        return BatchStatus.ACTIVE
    return BatchStatus.PLANNED
