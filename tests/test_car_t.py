"""Whole batches of the autologous CAR T product on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from activities import Fault
from definitions import AUTOLOGOUS_CD19_CAR_T as CAR_T
from tests.harness import Harness, order
from workflows.coi import is_valid_coi
from workflows.model import BatchStatus, DecisionAction, Deviation, DeviationKind, StepState


@pytest.mark.requirement("P11-50", "A11-15", "C1271-290")
async def test_happy_path_runs_three_weeks_and_completes(harness: Harness) -> None:
    handle = await harness.start(CAR_T)
    started = await harness.env.get_current_time()
    await harness.release(handle)
    rec = await harness.finish(handle)
    elapsed = await harness.env.get_current_time() - started

    assert rec.status == BatchStatus.COMPLETED
    assert timedelta(days=14) < elapsed < timedelta(days=35)
    assert rec.coi is not None and is_valid_coi(rec.coi)
    assert not rec.deviations
    assert [c.step for c in rec.custody] == [
        "receipt_at_site",
        "receipt_at_centre",
        "bedside_identity_check",
    ]
    assert all(c.identity_verified and c.label_verified for c in rec.custody)
    assert all(r.in_specification for r in rec.results.values() if r.in_specification is not None)
    assert {s.step for s in rec.steps if s.state == StepState.DONE} >= {
        "infusion",
        "qa_disposition",
    }
    assert [s.meaning for s in rec.signatures] == ["approval"]
    assert "LV-CD19-2611-014" in rec.lots
    assert [e.seq for e in rec.audit] == list(range(1, len(rec.audit) + 1))


async def _dispose(harness: Harness, handle, kind: str, action: DecisionAction, **kw) -> Deviation:  # type: ignore[no-untyped-def]
    rec = await harness.advance_until(
        handle,
        lambda r: any(d.kind == kind and d.is_open for d in r.deviations),
        what=f"deviation {kind}",
    )
    dev = next(d for d in rec.deviations if d.kind == kind and d.is_open)
    if action == DecisionAction.EXCEPTIONAL_RELEASE:
        await harness.request_exceptional_release(handle, dev.deviation_id)
    await harness.decide(
        handle, dev.deviation_id, action, reason=kw.pop("reason", "assessed"), **kw
    )
    return dev


@pytest.mark.requirement("P11-10h", "C1271-290")
async def test_label_mismatch_quarantines_then_abandon_compensates_in_reverse(
    harness: Harness,
) -> None:
    handle = await harness.start(
        CAR_T, faults=[Fault(kind="label_mismatch", step="receipt_at_site")]
    )
    rec = await harness.advance_until(
        handle, lambda r: bool(r.deviations), what="identity deviation"
    )
    assert rec.status == BatchStatus.QUARANTINED
    dev = rec.deviations[0]
    assert dev.kind == DeviationKind.IDENTITY_MISMATCH and dev.step == "receipt_at_site"
    assert rec.custody[-1].identity_verified is False
    await harness.decide(handle, dev.deviation_id, DecisionAction.ABANDON, reason="wrong bag")
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ABANDONED
    assert rec.compensations == [
        "receipt_at_site: cancel_courier",
        "apheresis: cancel_apheresis",
        "book_slot: release_slot",
        "allocate_coi: notify",
    ]
    assert rec.deviations[0].disposition == DecisionAction.ABANDON
    assert harness.world.calls(f"{handle.id}:book_slot:release_slot:undo") == 1


async def test_label_mismatch_rescanned_after_retry_completes(harness: Harness) -> None:
    handle = await harness.start(
        CAR_T, faults=[Fault(kind="label_mismatch", step="receipt_at_site")]
    )
    await _dispose(harness, handle, DeviationKind.IDENTITY_MISMATCH, DecisionAction.RETRY)
    await harness.release(handle)
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.COMPLETED
    assert [c.identity_verified for c in rec.custody if c.step == "receipt_at_site"] == [
        False,
        True,
    ]


@pytest.mark.requirement("A11-9", "C1271-265", "PROD-DEVIATION")
async def test_temperature_excursion_continued_by_qa(harness: Harness) -> None:
    handle = await harness.start(
        CAR_T, faults=[Fault(kind="temperature_excursion", step="receipt_at_site")]
    )
    dev = await _dispose(
        harness,
        handle,
        DeviationKind.TEMPERATURE_EXCURSION,
        DecisionAction.CONTINUE,
        reason="stability data covers 80 min at 15 C",
    )
    rec = await harness.advance_until(handle, lambda r: r.status == BatchStatus.ACTIVE)
    assert rec.custody[0].temperature is not None and rec.custody[0].temperature.max_c > 8
    await harness.release(handle)
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.COMPLETED
    disposed = next(d for d in rec.deviations if d.deviation_id == dev.deviation_id)
    assert disposed.disposition == DecisionAction.CONTINUE
    assert disposed.reason == "stability data covers 80 min at 15 C"


@pytest.mark.requirement("PROD-RELEASE", "A11-15")
async def test_oos_exceptional_release_is_recorded_as_such(harness: Harness) -> None:
    handle = await harness.start(CAR_T, faults=[Fault(kind="oos", result="viability_pct")])
    dev = await _dispose(
        harness,
        handle,
        DeviationKind.OUT_OF_SPECIFICATION,
        DecisionAction.EXCEPTIONAL_RELEASE,
        reason="physician request: no alternative therapy",
    )
    assert "viability_pct" in dev.description
    await harness.release(handle)
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.COMPLETED
    assert rec.exceptional_release and rec.released
    assert rec.results["viability_pct"].in_specification is False


@pytest.mark.requirement("PROD-DEVIATION")
async def test_oos_abandoned_by_qa(harness: Harness) -> None:
    handle = await harness.start(CAR_T, faults=[Fault(kind="oos", result="sterility")])
    await _dispose(
        harness,
        handle,
        DeviationKind.OUT_OF_SPECIFICATION,
        DecisionAction.ABANDON,
        reason="sterility positive",
    )
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ABANDONED and not rec.released
    assert rec.compensations[0] == "allocate_lots: return_lots"


@pytest.mark.requirement("PROD-HOLD", "PROD-DEVIATION")
async def test_breached_hold_opens_deviation_without_any_report(harness: Harness) -> None:
    handle = await harness.start(
        CAR_T,
        faults=[Fault(kind="courier_delay", step="receipt_at_site", delay=timedelta(hours=40))],
    )
    rec = await harness.advance_until(
        handle,
        lambda r: any(d.kind == DeviationKind.HOLD_BREACHED for d in r.deviations),
        what="hold breach",
    )
    assert rec.status == BatchStatus.QUARANTINED
    # The breach was raised by the timer: the courier had not reported yet.
    assert not rec.custody
    dev = next(d for d in rec.deviations if d.kind == DeviationKind.HOLD_BREACHED)
    assert dev.step == "fresh_apheresis_hold"
    await harness.decide(handle, dev.deviation_id, DecisionAction.CONTINUE, reason="cells viable")
    await harness.release(handle)
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.COMPLETED


async def test_failed_collection_is_recollected_once(harness: Harness) -> None:
    handle = await harness.start(CAR_T, faults=[Fault(kind="failed_collection")])
    await harness.release(handle)
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.COMPLETED
    runs = [s.iteration for s in rec.steps if s.step == "apheresis"]
    assert runs == [1, 2]


async def test_recollection_limit_abandons_and_compensates(harness: Harness) -> None:
    handle = await harness.start(CAR_T, faults=[Fault(kind="failed_collection", times=2)])
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ABANDONED
    assert rec.abandoned_reason and "cd3_cells not met after 2" in rec.abandoned_reason
    assert "book_slot: release_slot" in rec.compensations


async def test_short_dose_extends_expansion_once(harness: Harness) -> None:
    handle = await harness.start(CAR_T, faults=[Fault(kind="oos", result="total_viable_cells")])
    await harness.release(handle)
    rec = await harness.finish(handle)
    assert [s.iteration for s in rec.steps if s.step == "expansion"] == [1, 2]
    assert rec.status == BatchStatus.COMPLETED


async def test_withdrawal_during_manufacturing_compensates_in_reverse(harness: Harness) -> None:
    handle = await harness.start(CAR_T)
    await harness.advance_until(
        handle, lambda r: r.stage == "manufacturing" and "LV-CD19-2611-014" in r.lots
    )
    await handle.cancel()
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ABANDONED
    assert rec.abandoned_reason == "withdrawn: workflow cancelled"
    assert rec.compensations == [
        "allocate_lots: return_lots",
        "receipt_at_site: cancel_courier",
        "apheresis: cancel_apheresis",
        "book_slot: release_slot",
        "allocate_coi: notify",
    ]
    for step, act in [("allocate_lots", "return_lots"), ("book_slot", "release_slot")]:
        assert harness.world.calls(f"{handle.id}:{step}:{act}:undo") == 1
    closed = [e for e in harness.ledger.entries(handle.id) if e.action == "record.closed"]
    assert len(closed) == 1


async def test_withdrawal_while_a_call_is_retrying_abandons_without_a_deviation(
    harness: Harness,
) -> None:
    """A call in flight when the batch is withdrawn is cancelled with it: the batch unwinds
    and compensates, it does not report the cancelled call as a failed step."""
    handle = await harness.start(
        CAR_T, faults=[Fault(kind="flaky", activity="book_slot", times=50)]
    )
    await harness.until_retrying(handle, "book_slot")
    await handle.cancel()
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ABANDONED
    assert rec.abandoned_reason == "withdrawn: workflow cancelled"
    assert not rec.deviations
    assert "book_slot: release_slot" in rec.compensations
    assert not any(e.action == "step.failed" for e in rec.audit)


async def test_no_patient_data_in_ids_search_attributes_or_history(harness: Harness) -> None:
    handle = await harness.start(CAR_T, patient_pseudonym="PSN-SECRET-4711")
    await harness.until_waiting(handle, "event collection.completed")
    history = (await handle.fetch_history()).to_json()
    assert "PSN-SECRET-4711" not in history
    assert "PSN-SECRET-4711" not in handle.id
    desc = await handle.describe()
    assert "PSN-SECRET-4711" not in str(desc.typed_search_attributes)
    await handle.cancel()
    await harness.finish(handle)


def test_order_refuses_fields_that_would_identify_a_patient() -> None:
    with pytest.raises(ValidationError):
        order(patient_name="Jane Doe")
    with pytest.raises(ValidationError):
        order(patient_pseudonym="Jane Doe 1970-01-01")
