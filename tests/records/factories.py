"""Audit events and batch records for the record-store tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from records import LOT_CONSUMED, RECORD_CLOSED, snapshot_value
from workflows.model import (
    AuditEvent,
    BatchRecord,
    BatchStatus,
    CustodyEntry,
    DecisionAction,
    Deviation,
    DeviationKind,
    RecordedResult,
    Role,
    Signature,
    StepRun,
    StepState,
    TemperatureSummary,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
DEFINITION_HASH = "d" * 64
PRODUCT = "autologous-car-t"


def event(batch_id: str, seq: int, **fields: object) -> AuditEvent:
    """One audit event with plausible defaults; `fields` override any of them."""
    values: dict[str, object] = {
        "batch_id": batch_id,
        "seq": seq,
        "at": T0 + timedelta(minutes=seq),
        "actor": "system",
        "action": "step.done",
        "subject": f"step-{seq}",
        "old_value": None,
        "new_value": None,
        "reason": None,
        "definition_hash": DEFINITION_HASH,
        "product": PRODUCT,
    }
    values.update(fields)
    return AuditEvent.model_validate(values)


def events(batch_id: str, count: int, first: int = 1) -> list[AuditEvent]:
    """`count` consecutive events of `batch_id`, starting at seq `first`."""
    return [event(batch_id, seq) for seq in range(first, first + count)]


def lot_consumed(batch_id: str, seq: int, lot: str, coi: str, step: str) -> AuditEvent:
    """A "lot.consumed" event following the ledger's genealogy convention."""
    return event(
        batch_id,
        seq,
        action=LOT_CONSUMED,
        subject=lot,
        new_value=json.dumps({"coi": coi, "step": step}),
        actor="operator-7",
    )


def signature(target: str, action: DecisionAction, meaning: str, reason: str) -> Signature:
    """A signature manifestation as the engine keeps it on the record."""
    return Signature(
        signature_id=f"SIG-{target}-{action}",
        target=target,
        action=action,
        signer_id="qa-1",
        printed_name="Dana Q. Reviewer",
        role=Role.QA,
        signed_at=T0 + timedelta(days=12),
        meaning=meaning,
        reason=reason,
        record_hash="c" * 64,
    )


def exceptional_record(batch_id: str) -> BatchRecord:
    """A completed batch with an OOS result, its deviation, an exceptional release, an
    unverified custody entry, and a description that tries to inject markup."""
    return BatchRecord(
        batch_id=batch_id,
        product=PRODUCT,
        definition_version="1.4.0",
        definition_hash=DEFINITION_HASH,
        order_id="ORD-1001",
        sites={"treatment_centre": "TC-Lyon", "manufacturing_site": "MS-Leiden"},
        coi="COI-0000451X",
        status=BatchStatus.COMPLETED,
        steps=[
            StepRun(
                step="collection",
                stage="collect",
                state=StepState.DONE,
                started_at=T0,
                ended_at=T0 + timedelta(hours=3),
                performed_by="nurse-2",
            ),
            StepRun(
                step="transduction",
                stage="manufacture",
                state=StepState.DONE,
                started_at=T0 + timedelta(days=2),
                ended_at=T0 + timedelta(days=2, hours=4),
                performed_by="operator-7",
            ),
            StepRun(
                step="infusion",
                stage="treat",
                state=StepState.DONE,
                started_at=T0 + timedelta(days=15),
                ended_at=T0 + timedelta(days=15, minutes=25),
                performed_by="physician-3",
            ),
        ],
        custody=[
            CustodyEntry(
                step="ship_to_site",
                from_party="TC-Lyon",
                to_party="MS-Leiden",
                at=T0 + timedelta(hours=20),
                location="MS-Leiden goods-in",
                container_label="BAG-1",
                scanned_coi="COI-0000451X",
                identity_verified=True,
                label_verified=False,
                temperature=TemperatureSummary(min_c=3.1, max_c=9.4, minutes_outside_range=35),
            )
        ],
        results={
            "viability": RecordedResult(
                name="viability",
                value=71.0,
                unit="%",
                step="release_testing",
                at=T0 + timedelta(days=11),
                reporter="lims",
                in_specification=False,
                limit=">= 80 %",
            ),
            "sterility": RecordedResult(
                name="sterility",
                value="no growth",
                unit="",
                step="release_testing",
                at=T0 + timedelta(days=11),
                reporter="lims",
                in_specification=True,
                limit="no growth",
            ),
        },
        deviations=[
            Deviation(
                deviation_id="DEV-1",
                kind=DeviationKind.OUT_OF_SPECIFICATION,
                step="release_testing",
                opened_at=T0 + timedelta(days=11),
                description="Viability 71 % < 80 % <script>alert(1)</script>",
                allowed=(DecisionAction.EXCEPTIONAL_RELEASE, DecisionAction.ABANDON),
                disposition=DecisionAction.EXCEPTIONAL_RELEASE,
                disposed_by="qa-1",
                disposed_at=T0 + timedelta(days=12),
                reason="Physician request: no alternative therapy",
            )
        ],
        signatures=[
            signature(
                "DEV-1",
                DecisionAction.EXCEPTIONAL_RELEASE,
                "approval",
                "Physician request: no alternative therapy",
            )
        ],
        lots=["VEC-2207"],
        released=True,
        exceptional_release=True,
    )


def ledger_history(record: BatchRecord) -> list[AuditEvent]:
    """The audit events of `record`'s life, ending with the "record.closed" event."""
    batch_id = record.batch_id
    history = [
        event(batch_id, 1, action="batch.started", subject=batch_id, actor="service"),
        event(batch_id, 2, action="coi.allocated", subject="coi", new_value=record.coi),
        lot_consumed(batch_id, 3, "VEC-2207", record.coi or "", "transduction"),
        event(
            batch_id,
            4,
            action="deviation.disposed",
            subject="DEV-1",
            old_value="open",
            new_value="exceptional_release",
            reason="Physician request: no alternative therapy",
            actor="qa-1",
            signature=record.signatures[0],
        ),
        event(batch_id, 5, action="step.done", subject="infusion", actor="physician-3"),
    ]
    closed = event(batch_id, 6, action=RECORD_CLOSED, new_value=snapshot_value(record))
    return [*history, closed]
