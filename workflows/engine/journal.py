"""The audit journal: the one place that writes an audit event, and the derived status.

Every change to a batch is an `AuditEvent` appended to its record (projected into the ledger
by `projection`); each append re-derives status, waits and deadlines and publishes them.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.engine import search
from workflows.engine.state import BatchState
from workflows.model import AuditEvent, Signature
from workflows.status import derive_status

SYSTEM = "system"


def audit(
    state: BatchState,
    actor: str,
    action: str,
    subject: str,
    *,
    old: str | None = None,
    new: str | None = None,
    reason: str | None = None,
    signature: Signature | None = None,
) -> None:
    """Append one audit event (who, what, when, old and new value, why) and refresh status."""
    rec = state.rec
    rec.audit.append(
        AuditEvent(
            batch_id=rec.batch_id,
            seq=len(rec.audit) + 1,
            at=workflow.now(),
            actor=actor,
            action=action,
            subject=subject,
            old_value=old,
            new_value=new,
            reason=reason,
            signature=signature,
            definition_hash=rec.definition_hash,
            product=rec.product,
        )
    )
    rec.version += 1
    refresh(state)


def refresh(state: BatchState) -> None:
    """Re-derive status, waits and deadlines; audit a status change; publish attributes."""
    rec = state.rec
    old_status = rec.status
    rec.status = derive_status(rec)
    rec.waiting_for = sorted(
        [f"event {t} at {s}" for s, t in state.expecting.items()]
        + [f"decision at {g}" for g in state.gates]
        + [f"disposition of {d.deviation_id}" for d in rec.open_deviations()]
    )
    rec.next_deadline = min(state.deadlines.values(), default=None)
    if old_status != rec.status and rec.audit:
        rec.audit.append(
            AuditEvent(
                batch_id=rec.batch_id,
                seq=len(rec.audit) + 1,
                at=workflow.now(),
                actor=SYSTEM,
                action="status.changed",
                subject=rec.batch_id,
                old_value=old_status.value,
                new_value=rec.status.value,
                definition_hash=rec.definition_hash,
                product=rec.product,
            )
        )
    search.publish(state)
