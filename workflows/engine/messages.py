"""What people and outside systems send a batch: reports, recalls and signed decisions.

Each message has a validator (runs before anything is written to history; pure, no I/O) and a
handler that applies it. A refused message changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from workflows import authority, exceptional
from workflows.engine import failures, journal
from workflows.engine.errors import CONTINUE_OR_ABANDON
from workflows.engine.state import BatchState
from workflows.language import Series, WaitFor
from workflows.model import (
    RECALL_ALREADY_INFUSED,
    AuditAction,
    DecisionAction,
    DecisionReceipt,
    DeviationKind,
    EventAck,
    ExternalEvent,
    LotRecall,
    Signature,
    SignedDecision,
)
from workflows.review import RECORD_REVIEW

with workflow.unsafe.imports_passed_through():
    # Passed through so that the registry the worker installed is the one consulted here.
    import workflows.keyring as keyring

# -- reports -------------------------------------------------------------------------------


def validate_event(state: BatchState, event: ExternalEvent) -> None:
    """Refuse a report the batch is not waiting for, or one that is not evidence."""
    rec = state.rec
    if event.batch_id != rec.batch_id:
        raise ValueError(f"event is for batch {event.batch_id}, not {rec.batch_id}")
    if event.event_id in state.seen_events:
        return
    expected = state.expecting.get(event.step)
    if expected is None:
        raise ValueError(f"batch {rec.batch_id} is not waiting for a report at '{event.step}'")
    if expected != event.type:
        raise ValueError(f"step '{event.step}' waits for '{expected}', not '{event.type}'")
    if expected == "custody" and event.custody is None:
        raise ValueError("a custody report must carry what the receiver scanned")
    summary = event.custody.temperature if event.custody is not None else None
    if summary is not None and (problems := summary.evidence_problems()):
        raise ValueError(f"temperature summary is not evidence: {'; '.join(problems)}")
    if event.outcome == "rescheduled":
        step = state.defn.step(event.step)
        if not isinstance(step, WaitFor) or step.on_reschedule is None:
            raise ValueError(f"step '{event.step}' cannot be rescheduled")
        try:
            datetime.fromisoformat(event.data.get("new_date", ""))
        except ValueError as err:
            raise ValueError("a rescheduled report needs data.new_date (ISO 8601)") from err
    if event.outcome == "stopped":
        step = state.defn.step(event.step)
        if not isinstance(step, Series) or not step.may_stop:
            raise ValueError(f"step '{event.step}' may not be stopped early")


def report_event(state: BatchState, event: ExternalEvent) -> EventAck:
    """Hand the report to the step waiting for it (a repeated event id is acknowledged)."""
    if event.event_id in state.seen_events:
        return EventAck(event_id=event.event_id, duplicate=True)
    state.seen_events.add(event.event_id)
    state.events[event.step] = event
    journal.audit(state, event.reporter, AuditAction.EVENT_RECEIVED, event.step, new=event.type)
    return EventAck(event_id=event.event_id)


# -- recalls -------------------------------------------------------------------------------


def validate_recall(state: BatchState, recall: LotRecall) -> None:
    """Refuse a recall of a lot the batch never consumed, or of a batch already infused."""
    rec = state.rec
    if recall.recall_id in state.seen_events:
        return
    if recall.lot not in rec.lots:
        raise ValueError(f"batch {rec.batch_id} did not consume lot {recall.lot}")
    if rec.infused:
        raise ValueError(f"batch {rec.batch_id} {RECALL_ALREADY_INFUSED}")
    if state.closed or rec.completed or rec.abandoned_reason:
        raise ValueError(f"batch {rec.batch_id} is closed")


def recall_lot(state: BatchState, recall: LotRecall) -> EventAck:
    """Hold the batch with a blocking deviation for the recalled lot."""
    if recall.recall_id in state.seen_events:
        return EventAck(event_id=recall.recall_id, duplicate=True)
    state.seen_events.add(recall.recall_id)
    failures.open_deviation(
        state,
        DeviationKind.LOT_RECALLED,
        "materials",
        f"lot {recall.lot} recalled by {recall.requested_by}: {recall.reason}",
        CONTINUE_OR_ABANDON,
    )
    return EventAck(event_id=recall.recall_id)


# -- decisions -----------------------------------------------------------------------------


def decide(state: BatchState, decision: SignedDecision) -> DecisionReceipt:
    """Apply a signed decision: a gate's, a deviation's disposition, or a withdrawal."""
    body = decision.body
    state.used_signatures.add(body.signature_id)
    sig = Signature(
        signature_id=body.signature_id,
        target=body.target,
        action=body.action,
        signer_id=body.signer_id,
        printed_name=body.printed_name,
        role=body.role,
        signed_at=body.signed_at,
        meaning=body.meaning,
        reason=body.reason,
        record_hash=body.record_hash,
        key_id=body.key_id,
    )
    rec = state.rec
    rec.signatures.append(sig)
    if body.target in state.gates:
        state.gates[body.target] = decision
        state.performers[body.target] = body.signer_id
    elif body.target == rec.batch_id:
        state.abandon = f"withdrawn by {body.printed_name}: {body.reason}"
    elif body.action == DecisionAction.ON_HOLD:
        # Held open for an investigation: the deviation still waits for its disposition.
        rec.deviations = [
            d.model_copy(update={"on_hold": body.reason}) if d.deviation_id == body.target else d
            for d in rec.deviations
        ]
    elif body.action == DecisionAction.CONDITIONS_MET:
        # The deviation was accepted on conditions; now they are met and release may go on.
        rec.deviations = [
            d.model_copy(update={"conditions_met": body.reason})
            if d.deviation_id == body.target
            else d
            for d in rec.deviations
        ]
    elif body.target == RECORD_REVIEW:
        # The signature and its audit entry are the review; nothing waits on it but a release
        # gate's refusal (`workflows.review`).
        pass
    elif exceptional.is_request(body):
        # A physician's request: kept as a signature, the deviation stays open for QA.
        pass
    else:
        state.dispositions[body.target] = decision
        if body.action == DecisionAction.ABANDON:
            # Whoever waits (a failed step, a hold breach, a missed visit) unwinds from here.
            state.abandon = f"{body.target} disposed: abandon ({body.reason})"
        rec.deviations = [
            d.model_copy(
                update={
                    "disposition": body.action,
                    "disposed_by": body.printed_name,
                    "disposed_at": body.signed_at,
                    "reason": body.reason,
                    "severity": body.severity,
                    "capa": body.capa,
                    "conditions": body.conditions,
                    "reworked_from": body.rework_to,
                }
            )
            if d.deviation_id == body.target
            else d
            for d in rec.deviations
        ]
    if exceptional.is_request(body):
        what = AuditAction.EXCEPTIONAL_RELEASE_REQUESTED
    elif body.action == DecisionAction.ON_HOLD:
        what = AuditAction.DEVIATION_ON_HOLD
    else:
        what = AuditAction.decision(body.action)
    journal.audit(
        state,
        body.signer_id,
        what,
        body.target,
        reason=body.reason,
        signature=sig,
    )
    return DecisionReceipt(
        signature_id=body.signature_id,
        target=body.target,
        action=body.action,
        status=rec.status,
    )


def refusal(state: BatchState, decision: SignedDecision) -> str | None:
    """Why `decision` must be refused, or None: the rules of `workflows.authority`, applied to
    this batch's state. Pure: no I/O, no state change."""
    return authority.refusal(
        decision,
        record=state.rec,
        definition=state.defn,
        awaiting_gates=state.gates.keys(),
        performers=state.performers,
        done=state.done_at.keys(),
        used_signatures=state.used_signatures,
        now=workflow.now(),
        max_age=timedelta(seconds=state.start.signature_max_age_seconds),
        # Only the deployment's keys; never keys named in the start input.
        keys=keyring.installed(),
        closed=state.closed,
    )
