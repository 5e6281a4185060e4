"""Signed decisions: what the workflow's validator accepts and refuses, and why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from activities import Fault
from tests.harness import Harness
from tests.products import FLAKY_BOOKING
from workflows.client import decide as submit
from workflows.model import BatchStatus, DecisionAction, DeviationKind, Role, SignedDecision
from workflows.signatures import SigningKey


async def _refused(harness: Harness, handle: WorkflowHandle[Any, Any], d: SignedDecision) -> str:
    before = await harness.record(handle)
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await submit(harness.client, handle.id, d)
    after = await harness.record(handle)
    assert after.version == before.version, "a refused decision must change nothing"
    assert after.signatures == before.signatures
    return str(info.value.cause)


@pytest.fixture
async def at_gate(harness: Harness) -> WorkflowHandle[Any, Any]:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    return handle


@pytest.mark.requirement("P11-10f")
async def test_decision_before_its_gate_is_refused(harness: Harness) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.advance_until(handle, lambda r: r.coi is not None)
    d = await harness.sign(handle, "approve", DecisionAction.APPROVE)
    assert "nothing awaits a decision at 'approve'" in await _refused(harness, handle, d)


@pytest.mark.requirement("P11-10g")
async def test_role_the_gate_does_not_name_is_refused(harness: Harness, at_gate: Any) -> None:
    d = await harness.sign(at_gate, "approve", DecisionAction.APPROVE, role=Role.OPERATOR)
    assert "role operator may not decide approve" in await _refused(harness, at_gate, d)


@pytest.mark.requirement("P11-10g")
async def test_performer_may_not_approve_own_step(harness: Harness, at_gate: Any) -> None:
    rec = await harness.record(at_gate)
    performer = next(s.performed_by for s in rec.steps if s.step == "expansion")
    assert performer
    d = await harness.sign(at_gate, "approve", DecisionAction.APPROVE, signer_id=performer)
    assert "may not approve it" in await _refused(harness, at_gate, d)


@pytest.mark.requirement("P11-70", "A11-14")
async def test_tampered_payload_is_refused(harness: Harness, at_gate: Any) -> None:
    d = await harness.sign(at_gate, "approve", DecisionAction.REJECT, reason="contaminated")
    forged = SignedDecision(
        body=d.body.model_copy(update={"action": DecisionAction.APPROVE}), signature=d.signature
    )
    assert "does not match" in await _refused(harness, at_gate, forged)


@pytest.mark.requirement("P11-70")
async def test_signature_for_another_batch_is_refused(harness: Harness, at_gate: Any) -> None:
    other = await harness.start(FLAKY_BOOKING)
    d = await harness.sign(at_gate, "approve", DecisionAction.APPROVE, batch_id=other.id)
    assert f"signature is for batch {other.id}" in await _refused(harness, at_gate, d)


async def test_expired_signature_is_refused(harness: Harness, at_gate: Any) -> None:
    old = await harness.env.get_current_time() - timedelta(hours=1)
    d = await harness.sign(at_gate, "approve", DecisionAction.APPROVE, signed_at=old)
    assert "signature expired" in await _refused(harness, at_gate, d)


@pytest.mark.requirement("P11-70", "A11-14")
async def test_signature_over_another_record_version_is_refused(
    harness: Harness, at_gate: Any
) -> None:
    d = await harness.sign(at_gate, "approve", DecisionAction.APPROVE, record_hash="0" * 64)
    assert "another version of the record" in await _refused(harness, at_gate, d)


@pytest.mark.requirement("P11-100", "A11-14")
async def test_decision_not_signed_by_the_service_is_refused(
    harness: Harness, at_gate: Any
) -> None:
    rogue = SigningKey.generate("k-rogue")
    d = await harness.sign(at_gate, "approve", DecisionAction.APPROVE, key=rogue)
    assert "not trusted" in await _refused(harness, at_gate, d)


@pytest.mark.requirement("P11-100", "P11-70")
async def test_signature_cannot_be_reused(harness: Harness, at_gate: Any) -> None:
    d = await harness.sign(at_gate, "approve", DecisionAction.APPROVE)
    receipt = await submit(harness.client, at_gate.id, d)
    assert receipt.action == DecisionAction.APPROVE
    rec = await harness.finish(at_gate)
    assert rec.status == BatchStatus.COMPLETED
    assert [s.signature_id for s in rec.signatures] == [d.body.signature_id]


@pytest.mark.requirement("A11-9")
async def test_rejection_needs_reason_and_abandons(harness: Harness, at_gate: Any) -> None:
    d = await harness.sign(at_gate, "approve", DecisionAction.REJECT, reason=" ")
    assert "written justification" in await _refused(harness, at_gate, d)
    await harness.decide(at_gate, "approve", DecisionAction.REJECT, reason="expansion failed")
    rec = await harness.finish(at_gate)
    assert rec.status == BatchStatus.ABANDONED
    assert rec.compensations == ["book_slot: release_slot"]


async def test_retry_exhaustion_holds_batch_until_a_person_retries(harness: Harness) -> None:
    handle = await harness.start(
        FLAKY_BOOKING, faults=[Fault(kind="flaky", step="book_slot", times=3)]
    )
    rec = await harness.advance_until(
        handle, lambda r: bool(r.deviations), step=timedelta(minutes=1)
    )
    dev = rec.deviations[0]
    assert rec.status == BatchStatus.HELD
    assert dev.kind == DeviationKind.RETRIES_EXHAUSTED and dev.step == "book_slot"
    assert harness.world.calls(f"{handle.id}:book_slot:book_slot:i1r0") == 3
    d = await harness.sign(handle, dev.deviation_id, DecisionAction.RETRY, role=Role.OPERATOR)
    assert "may not dispose" in await _refused(harness, handle, d)
    d = await harness.sign(handle, dev.deviation_id, DecisionAction.EXCEPTIONAL_RELEASE)
    assert "allows retry, continue, abandon" in await _refused(harness, handle, d)
    await harness.decide(handle, dev.deviation_id, DecisionAction.RETRY, reason="MES back up")
    rec = await harness.until_waiting(handle, "decision at approve")
    assert rec.status == BatchStatus.ACTIVE
    assert harness.world.calls(f"{handle.id}:book_slot:book_slot:i1r1") == 1


async def test_transient_errors_retry_within_policy_without_deviation(harness: Harness) -> None:
    handle = await harness.start(
        FLAKY_BOOKING, faults=[Fault(kind="flaky", step="book_slot", times=2)]
    )
    rec = await harness.until_waiting(handle, "decision at approve", step=timedelta(minutes=30))
    assert not rec.deviations
    assert harness.world.calls(f"{handle.id}:book_slot:book_slot:i1r0") == 3
    assert len(harness.world.effects("book_slot")) >= 1
