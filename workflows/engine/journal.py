"""The audit journal: the one place that writes an audit event, and the derived status.

Every change to a batch is an `AuditEvent` appended to its record (projected into the ledger
by `projection`); each append re-derives status, waits and deadlines and publishes them.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.authority import QA_ROLES
from workflows.engine import search
from workflows.engine.state import BatchState
from workflows.language import FollowUp, Gate, Hold
from workflows.model import AuditEvent, Awaiting, AwaitKind, Clock, ClockKind, Signature
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
    rec.awaiting = awaiting(state)
    rec.waiting_for = sorted(a.label() for a in rec.awaiting)
    rec.clocks = clocks(state)
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


def awaiting(state: BatchState) -> list[Awaiting]:
    """What the batch waits for now, typed: reports, decisions and dispositions."""
    now, rec = workflow.now(), state.rec
    items = [
        Awaiting(
            kind=AwaitKind.EVENT,
            target=step,
            event=event,
            since=state.since.setdefault(step, now),
            deadline=state.deadlines.get(step),
        )
        for step, event in state.expecting.items()
    ]
    for gate in state.gates:
        step = state.defn.step(gate)
        items.append(
            Awaiting(
                kind=AwaitKind.DECISION,
                target=gate,
                roles=step.roles if isinstance(step, Gate) else (),
                since=state.since.setdefault(gate, now),
            )
        )
    items += [
        Awaiting(
            kind=AwaitKind.DISPOSITION,
            target=d.deviation_id,
            roles=tuple(sorted(QA_ROLES)),
            since=d.opened_at,
        )
        for d in rec.open_deviations()
    ]
    waiting = {a.target for a in items}
    for gone in [t for t in state.since if t not in waiting]:
        del state.since[gone]
    return items


def clocks(state: BatchState) -> list[Clock]:
    """Every running clock with its start and limit: holds, deadlines, visit windows and the
    treatment window. Computed here once; readers never recompute a clock."""
    now, rec = workflow.now(), state.rec
    for gone in [n for n in state.clock_started if n not in state.deadlines]:
        del state.clock_started[gone]
    out = []
    for name, limit in state.deadlines.items():
        started = state.clock_started.setdefault(name, now)
        step = state.defn.step(name)
        kind = ClockKind.DEADLINE
        if isinstance(step, Hold):
            kind, started = ClockKind.HOLD, state.done_at.get(step.start, started)
        elif isinstance(step, FollowUp):
            kind = ClockKind.VISIT
        out.append(Clock(name=name, kind=kind, started=started, limit=limit))
    order = state.start.order
    if order.treatment_window_end is not None and not rec.infused:
        out.append(
            Clock(
                name="treatment_window",
                kind=ClockKind.TREATMENT_WINDOW,
                started=order.treatment_window_start,
                limit=order.treatment_window_end,
            )
        )
    return sorted(out, key=lambda c: c.limit)
