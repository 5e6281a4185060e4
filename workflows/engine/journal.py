"""The audit journal: the one place that writes an audit event, and the derived status.

Every change to a batch is an `AuditEvent` appended to its record (projected into the ledger
by `projection`); each append re-derives status, waits and deadlines and publishes them.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.authority import QA_ROLES
from workflows.engine import metering, search
from workflows.engine.state import BatchState
from workflows.language import FollowUp, Gate, Hold
from workflows.model import (
    AuditAction,
    AuditEvent,
    Awaiting,
    AwaitKind,
    Clock,
    ClockKind,
    Signature,
)
from workflows.record import await_label
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
    event = AuditEvent(
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
    rec.audit.append(event)
    rec.version += 1
    refresh(state)
    metering.recorded(state, event)


def refresh(state: BatchState) -> None:
    """Re-derive status, waits and deadlines; audit a status change; publish attributes."""
    if not workflow.in_workflow():
        # A run evicted from the worker's cache is torn down by closing its coroutines; the
        # `finally` blocks of its waits end up here with no workflow to record anything in.
        return
    rec = state.rec
    old_status = rec.status
    rec.status = derive_status(rec)
    _track_since(state)
    rec.waiting_for = sorted(
        [await_label(AwaitKind.EVENT, s, t) for s, t in state.expecting.items()]
        + [await_label(AwaitKind.DECISION, g) for g in state.gates]
        + [await_label(AwaitKind.DISPOSITION, d.deviation_id) for d in rec.open_deviations()]
    )
    rec.next_deadline = min(state.deadlines.values(), default=None)
    if old_status != rec.status and rec.audit:
        rec.audit.append(
            AuditEvent(
                batch_id=rec.batch_id,
                seq=len(rec.audit) + 1,
                at=workflow.now(),
                actor=SYSTEM,
                action=AuditAction.STATUS_CHANGED,
                subject=rec.batch_id,
                old_value=old_status.value,
                new_value=rec.status.value,
                definition_hash=rec.definition_hash,
                product=rec.product,
            )
        )
    metering.refreshed(state)
    search.publish(state)


def _track_since(state: BatchState) -> None:
    """Note when each wait and each clock began (cheap: the typed values are built only when
    the record is read, by `awaiting` and `clocks`)."""
    now = workflow.now()
    waiting = set(state.expecting) | set(state.gates)
    for gone in [t for t in state.since if t not in waiting]:
        del state.since[gone]
    for target in waiting:
        state.since.setdefault(target, now)
    for gone in [n for n in state.clock_started if n not in state.deadlines]:
        del state.clock_started[gone]
    for name in state.deadlines:
        state.clock_started.setdefault(name, now)


def awaiting(state: BatchState) -> list[Awaiting]:
    """What the batch waits for now, typed: reports, decisions and dispositions. Pure (it is
    called from the record query)."""
    now, rec = workflow.now(), state.rec
    items = [
        Awaiting(
            kind=AwaitKind.EVENT,
            target=step,
            event=event,
            since=state.since.get(step, now),
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
                since=state.since.get(gate, now),
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
    return sorted(items, key=lambda a: a.label())


def clocks(state: BatchState) -> list[Clock]:
    """Every running clock with its start, limit and remaining time: holds, deadlines, visit
    windows and the treatment window. Computed here once; readers never recompute a clock.
    Pure (it is called from the record query)."""
    now, rec = workflow.now(), state.rec
    out = []
    for name, limit in state.deadlines.items():
        started: datetime | None = state.clock_started.get(name)
        step = state.defn.step(name)
        kind = ClockKind.DEADLINE
        if isinstance(step, Hold):
            kind, started = ClockKind.HOLD, state.done_at.get(step.start, started)
        elif isinstance(step, FollowUp):
            kind = ClockKind.VISIT
        out.append(Clock(name=name, kind=kind, started=started, limit=limit, remaining=limit - now))
    for step_name, (earliest, _) in state.not_before.items():
        if step_name not in state.done_at:
            out.append(
                Clock(
                    name=step_name,
                    kind=ClockKind.NOT_BEFORE,
                    started=None,
                    limit=earliest,
                    remaining=earliest - now,
                )
            )
    for step_name, (started, expires) in state.expiries.items():
        out.append(
            Clock(
                name=step_name,
                kind=ClockKind.SHELF_LIFE,
                started=started,
                limit=expires,
                remaining=expires - now,
            )
        )
    order = state.start.order
    if order.treatment_window_end is not None and not rec.infused and not state.closed:
        out.append(
            Clock(
                name="treatment_window",
                kind=ClockKind.TREATMENT_WINDOW,
                started=order.treatment_window_start,
                limit=order.treatment_window_end,
                remaining=order.treatment_window_end - now,
            )
        )
    return sorted(out, key=lambda c: c.limit)
