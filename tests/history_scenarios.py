"""The batch paths whose histories are committed for the replay test (tests/histories/).

Each scenario drives one whole batch on the time-skipping harness and returns the handle whose
first run's history is recorded. Record them again only for a new path, with
`VEIN2VEIN_RECORD_HISTORIES=1 pytest tests/test_replay.py -k record`; never overwrite a
committed history to make the replay test pass: that hides a change of recorded behaviour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from activities import Fault
from definitions import (
    ALLOGENEIC_DONOR_LOT,
    ALLOGENEIC_PATIENT_ORDER,
    AUTOLOGOUS_CD19_CAR_T,
    HSC_GENE_THERAPY,
    IN_VIVO_LOT,
    IN_VIVO_PATIENT,
)
from tests.harness import Harness
from tests.products import (
    COMPUTED_DOSE,
    ENDS_EARLY,
    FLAKY_BOOKING,
    MANY_PARTIES,
    MANY_PARTY_SITES,
    OBSERVED,
    RELEASE_JUDGED,
    WINDOWED_INFUSION,
)
from workflows.client import report_event
from workflows.model import (
    CustodyReport,
    DecisionAction,
    DeviationKind,
    ExternalEvent,
    ResultValue,
    TemperatureSummary,
)

Handle = WorkflowHandle[Any, Any]
Scenario = Callable[[Harness], Awaitable[Handle]]


async def _dispose(harness: Harness, handle: Handle, kind: str, action: DecisionAction) -> None:
    rec = await harness.advance_until(
        handle, lambda r: any(d.kind == kind and d.is_open for d in r.deviations), what=kind
    )
    dev = next(d for d in rec.deviations if d.kind == kind and d.is_open)
    if action == DecisionAction.EXCEPTIONAL_RELEASE:
        # Histories recorded before this rule have no request; they replay all the same
        # (validators do not run in replay).
        await harness.request_exceptional_release(handle, dev.deviation_id)
    await harness.decide(handle, dev.deviation_id, action, reason=f"recorded path: {action}")


async def car_t_oos_exceptional_release(harness: Harness) -> Handle:
    """Viability out of specification, released exceptionally, infused."""
    h = await harness.start(
        AUTOLOGOUS_CD19_CAR_T, faults=[Fault(kind="oos", result="viability_pct")]
    )
    await _dispose(
        harness, h, DeviationKind.OUT_OF_SPECIFICATION, DecisionAction.EXCEPTIONAL_RELEASE
    )
    await harness.release(h)
    await harness.finish(h)
    return h


async def car_t_oos_abandoned(harness: Harness) -> Handle:
    """Sterility positive, abandoned by QA, compensations run."""
    h = await harness.start(AUTOLOGOUS_CD19_CAR_T, faults=[Fault(kind="oos", result="sterility")])
    await _dispose(harness, h, DeviationKind.OUT_OF_SPECIFICATION, DecisionAction.ABANDON)
    await harness.finish(h)
    return h


async def car_t_hold_breached(harness: Harness) -> Handle:
    """The fresh-apheresis hold breached by a late courier, continued by QA."""
    late = Fault(kind="courier_delay", step="receipt_at_site", delay=timedelta(hours=40))
    h = await harness.start(AUTOLOGOUS_CD19_CAR_T, faults=[late])
    await _dispose(harness, h, DeviationKind.HOLD_BREACHED, DecisionAction.CONTINUE)
    await harness.release(h)
    await harness.finish(h)
    return h


async def car_t_recollected(harness: Harness) -> Handle:
    """Too few cells collected once: re-collected, then released and infused."""
    h = await harness.start(AUTOLOGOUS_CD19_CAR_T, faults=[Fault(kind="failed_collection")])
    await harness.release(h)
    await harness.finish(h)
    return h


async def car_t_expansion_extended(harness: Harness) -> Handle:
    """The dose was short after expansion: expansion extended once."""
    h = await harness.start(
        AUTOLOGOUS_CD19_CAR_T, faults=[Fault(kind="oos", result="total_viable_cells")]
    )
    await harness.release(h)
    await harness.finish(h)
    return h


async def car_t_label_mismatch_retried(harness: Harness) -> Handle:
    """A label mismatch at receipt, rescanned after QA's retry."""
    h = await harness.start(
        AUTOLOGOUS_CD19_CAR_T, faults=[Fault(kind="label_mismatch", step="receipt_at_site")]
    )
    await _dispose(harness, h, DeviationKind.IDENTITY_MISMATCH, DecisionAction.RETRY)
    await harness.release(h)
    await harness.finish(h)
    return h


async def car_t_withdrawn(harness: Harness) -> Handle:
    """Withdrawn (workflow cancelled) during manufacturing: compensations in reverse."""
    h = await harness.start(AUTOLOGOUS_CD19_CAR_T)
    await harness.advance_until(h, lambda r: r.stage == "manufacturing" and bool(r.lots))
    await h.cancel()
    await harness.finish(h)
    return h


async def car_t_withdrawn_mid_call(harness: Harness) -> Handle:
    """Withdrawn while a booking call is being retried: the call is cancelled, no deviation."""
    h = await harness.start(
        AUTOLOGOUS_CD19_CAR_T, faults=[Fault(kind="flaky", activity="book_slot", times=50)]
    )
    await harness.until_retrying(h, "book_slot")
    await h.cancel()
    await harness.finish(h)
    return h


async def booking_retries_exhausted_resumed(harness: Harness) -> Handle:
    """A booking system down beyond the retry policy: held, retried by a person, approved."""
    h = await harness.start(FLAKY_BOOKING, faults=[Fault(kind="flaky", step="book_slot", times=3)])
    await harness.advance_until(h, lambda r: bool(r.deviations), step=timedelta(minutes=1))
    await _dispose(harness, h, DeviationKind.RETRIES_EXHAUSTED, DecisionAction.RETRY)
    await harness.until_waiting(h, "decision at approve")
    await harness.decide(h, "approve", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def _custody_by_hand(
    harness: Harness, h: Handle, temperature: TemperatureSummary | None
) -> None:
    rec = await harness.until_waiting(h, "event custody at receipt")
    await report_event(
        harness.client,
        ExternalEvent(
            event_id=f"{h.id}:manual-receipt",
            batch_id=h.id,
            step="receipt",
            type="custody",
            reporter="courier/driver",
            occurred_at=datetime.now(UTC),
            custody=CustodyReport(
                from_party="courier",
                to_party="manufacturing",
                scanned_coi=rec.coi or "",
                container_label=f"{rec.coi}-APH",
                location="MFG-EAST dock",
                temperature=temperature,
            ),
        ),
    )


async def receipt_without_temperature(harness: Harness) -> Handle:
    """A 2-8 C receipt reported with no temperature summary at all (accepted before issue 9;
    recorded then, it no longer runs to the end as written)."""
    h = await harness.start(FLAKY_BOOKING, faults=[Fault(kind="silent", step="receipt")])
    await _custody_by_hand(harness, h, None)
    await harness.until_waiting(h, "decision at approve")
    await harness.decide(h, "approve", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def receipt_never_in_range(harness: Harness) -> Handle:
    """A 2-8 C receipt whose summary says 12..14 C with 0 minutes outside (passed before
    issue 9; recorded then, it no longer runs to the end as written)."""
    h = await harness.start(FLAKY_BOOKING, faults=[Fault(kind="silent", step="receipt")])
    await _custody_by_hand(harness, h, TemperatureSummary(min_c=12, max_c=14))
    await harness.until_waiting(h, "decision at approve")
    await harness.decide(h, "approve", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def _release_lot(harness: Harness, definition: Any, gate: str) -> Handle:
    lot = await harness.start(definition)
    await harness.until_waiting(lot, f"decision at {gate}")
    await harness.decide(lot, gate, DecisionAction.APPROVE)
    await harness.finish(lot)
    return lot


async def allogeneic_lot_released(harness: Harness) -> Handle:
    """A donor lot made, tested and released into inventory."""
    return await _release_lot(harness, ALLOGENEIC_DONOR_LOT, "qa_lot_release")


async def allogeneic_order_infused(harness: Harness) -> Handle:
    """A patient order allocated a released dose, shipped and infused."""
    await _release_lot(harness, ALLOGENEIC_DONOR_LOT, "qa_lot_release")
    h = await harness.start(ALLOGENEIC_PATIENT_ORDER)
    await harness.finish(h)
    return h


async def in_vivo_lot_released(harness: Harness) -> Handle:
    """An LNP vial lot made, tested and released into inventory."""
    return await _release_lot(harness, IN_VIVO_LOT, "qa_lot_release")


async def in_vivo_overdose_administered(harness: Harness) -> Handle:
    """A 260 kg patient's computed dose (1.3e14 vg, limit 1e14) went to administration before
    issue 9 (definition 1.0.0); the first run is recorded, then withdrawn. Recorded then, it
    no longer runs to the end as written."""
    await _release_lot(harness, IN_VIVO_LOT, "qa_lot_release")
    h = await harness.start(IN_VIVO_PATIENT, weight_kg=260)
    await harness.advance_until(
        h, lambda r: r.stage == "follow_up" or bool(r.deviations), step=timedelta(hours=6)
    )
    await h.cancel()
    await harness.finish(h)
    return h


async def in_vivo_overdose_stopped(harness: Harness) -> Handle:
    """Issue 9: the same overdose now stops at a deviation after the calculation; abandoned.
    Recorded with definition 1.2.0 (dose by the calculate_dose activity); from 1.3.0 the dose
    is computed in the workflow and capped, see `in_vivo_underdose_stopped`."""
    h = await harness.start(IN_VIVO_PATIENT, weight_kg=260)
    await _dispose(harness, h, DeviationKind.OUT_OF_SPECIFICATION, DecisionAction.ABANDON)
    await harness.finish(h)
    return h


async def in_vivo_underdose_stopped(harness: Harness) -> Handle:
    """Issue 11: definition 1.3.0 computes the dose in the workflow; a 12 kg patient's dose
    falls under the minimum and stops before allocation; abandoned."""
    h = await harness.start(IN_VIVO_PATIENT, weight_kg=12)
    await _dispose(harness, h, DeviationKind.OUT_OF_SPECIFICATION, DecisionAction.ABANDON)
    await harness.finish(h)
    return h


async def release_judged_exceptional(harness: Harness) -> Handle:
    """Issue 9: a computed dose over its limit that the gate does not name, released only
    under a signed exceptional release."""
    h = await harness.start(RELEASE_JUDGED, weight_kg=260)
    await _dispose(
        harness, h, DeviationKind.OUT_OF_SPECIFICATION, DecisionAction.EXCEPTIONAL_RELEASE
    )
    await harness.until_waiting(h, "decision at release")
    await harness.decide(h, "release", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def custody_evidence_missing_continued(harness: Harness) -> Handle:
    """Issue 9: a 2-8 C receipt without a temperature summary opens a deviation; continued."""
    h = await harness.start(
        FLAKY_BOOKING, faults=[Fault(kind="no_temperature_summary", step="receipt")]
    )
    await _dispose(harness, h, DeviationKind.TEMPERATURE_EVIDENCE_MISSING, DecisionAction.CONTINUE)
    await harness.until_waiting(h, "decision at approve")
    await harness.decide(h, "approve", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def custody_never_in_range_abandoned(harness: Harness) -> Handle:
    """Issue 9: a leg never within its range is an excursion whatever its minutes; abandoned."""
    h = await harness.start(FLAKY_BOOKING, faults=[Fault(kind="never_in_range", step="receipt")])
    await _dispose(harness, h, DeviationKind.TEMPERATURE_EXCURSION, DecisionAction.ABANDON)
    await harness.finish(h)
    return h


async def car_t_collection_rescheduled(harness: Harness) -> Handle:
    """The hospital moves the collection: the slot moves, the report then arrives; withdrawn."""
    h = await harness.start(
        AUTOLOGOUS_CD19_CAR_T,
        manufacturing_site="MFG-RESCHED",
        faults=[Fault(kind="silent", step="apheresis", times=1)],
    )
    await harness.until_waiting(h, "event collection.completed at apheresis")
    now = await harness.env.get_current_time()
    moved = ExternalEvent(
        event_id=f"{h.id}:resched",
        batch_id=h.id,
        step="apheresis",
        type="collection.completed",
        reporter="TC-NORTH/scheduler",
        occurred_at=now,
        outcome="rescheduled",
        data={"new_date": (now + timedelta(days=9)).isoformat()},
    )
    await report_event(harness.client, moved)
    await harness.advance_until(h, lambda r: any(e.action == "step.rescheduled" for e in r.audit))
    done = moved.model_copy(
        update={
            "event_id": f"{h.id}:done",
            "outcome": "ok",
            "data": {},
            "results": {"cd3_cells": ResultValue(value=2.0e9, unit="cells")},
        }
    )
    await report_event(harness.client, done)
    await harness.advance_until(h, lambda r: "cd3_cells" in r.results)
    await h.cancel()
    await harness.finish(h)
    return h


async def in_vivo_follow_up_continued_as_new(harness: Harness) -> Handle:
    """Dosing, administration and the first follow-up visit; the run ends by continuing as
    new into the second visit (the recorded history is that first run)."""
    await _release_lot(harness, IN_VIVO_LOT, "qa_lot_release")
    h = await harness.start(IN_VIVO_PATIENT, weight_kg=72.5)
    await harness.advance_until(
        h,
        lambda r: any(e.action == "visit.completed" for e in r.audit),
        step=timedelta(days=5),
        limit=timedelta(days=200),
    )
    first_run = h.result_run_id or h.run_id
    for _ in range(600):
        if (await h.describe()).run_id != first_run:
            break
        await harness.skip(timedelta(days=5))
    await h.cancel()
    await harness.finish(h)
    return harness.client.get_workflow_handle(h.id, run_id=first_run)


async def in_vivo_not_eligible(harness: Harness) -> Handle:
    """A patient assessed not eligible: the eligibility branch ends the batch cleanly."""
    h = await harness.start(
        IN_VIVO_PATIENT, weight_kg=70, faults=[Fault(kind="oos", result="eligible")]
    )
    await harness.finish(h)
    return h


async def ended_early_compensated(harness: Harness) -> Handle:
    """An order option declines manufacture: the booked slot is released, the batch ends."""
    h = await harness.start(ENDS_EARLY, options={"manufacture": "no"})
    await harness.finish(h)
    return h


async def parties_cryopreserved_released(harness: Harness) -> Handle:
    """Declared parties at their own sites; the option branch adds cryopreservation."""
    h = await harness.start(
        MANY_PARTIES, sites=MANY_PARTY_SITES, options={"apheresis_mode": "cryopreserved"}
    )
    await harness.until_waiting(h, "decision at release")
    await harness.decide(h, "release", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def interval_deferred_infusion(harness: Harness) -> Handle:
    """A minimum interval defers the infusion; the maximum is met; approved."""
    h = await harness.start(WINDOWED_INFUSION)
    await harness.until_waiting(h, "decision at approve")
    await harness.decide(h, "approve", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def computed_dose_approved(harness: Harness) -> Handle:
    """A product activity counts cells; a product function computes the dose; approved."""
    with harness.simulating("cd34_cells", nominal=4.2e8, failing=2e7, unit="cells"):
        h = await harness.start(COMPUTED_DOSE, weight_kg=70)
        await harness.until_waiting(h, "decision at approve")
    await harness.decide(h, "approve", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def observed_with_breach_and_stop(harness: Harness) -> Handle:
    """Daily grades (one missed, one out of limit, assessed while observation goes on) and a
    dose series the physician stops before its first dose."""
    with harness.simulating("crs_grade", nominal=1.0, failing=3.0, unit="grade"):
        return await _observed(harness)


async def _observed(harness: Harness) -> Handle:
    h = await harness.start(
        OBSERVED,
        faults=[
            Fault(kind="oos", result="crs_grade", times=1),
            Fault(kind="silent", step="crs_monitoring", times=1),
            Fault(kind="silent", step="il2_doses", times=1),
        ],
    )
    await harness.until_waiting(h, "event centre.dose_given at il2_doses")
    await report_event(
        harness.client,
        ExternalEvent(
            event_id=f"stop-{h.id}",
            batch_id=h.id,
            step="il2_doses",
            type="centre.dose_given",
            reporter="TC-NORTH/physician",
            occurred_at=await harness.env.get_current_time(),
            outcome="stopped",
        ),
    )
    rec = await harness.until_waiting(h, "decision at approve")
    for d in rec.deviations:
        await harness.decide(h, d.deviation_id, DecisionAction.CONTINUE, reason="assessed")
    await harness.decide(h, "approve", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def hsc_pooled_and_engrafted(harness: Harness) -> Handle:
    """Two collections pooled to the CD34+ target, released, conditioned, infused after the
    washout, six weekly ANC counts; then withdrawn during long-term follow-up."""
    sites = {
        "treatment_centre": "TC-NORTH",
        "apheresis_unit": "APH-WEST",
        "central_lab": "LAB-CENTRAL",
        "plant": "MFG-EAST",
        "courier": "COURIER-CRYO",
    }
    h = await harness.start(HSC_GENE_THERAPY, sites=sites, weight_kg=70)
    await harness.until_waiting(h, "decision at qa_release", step=timedelta(days=2))
    await harness.decide(h, "qa_release", DecisionAction.APPROVE)
    await harness.advance_until(
        h, lambda r: len(r.observations) == 6, what="six ANC counts", step=timedelta(days=2)
    )
    await h.cancel()
    await harness.finish(h)
    return h


SCENARIOS: dict[str, Scenario] = {
    "car_t_oos_exceptional_release": car_t_oos_exceptional_release,
    "car_t_oos_abandoned": car_t_oos_abandoned,
    "car_t_hold_breached": car_t_hold_breached,
    "car_t_recollected": car_t_recollected,
    "car_t_expansion_extended": car_t_expansion_extended,
    "car_t_label_mismatch_retried": car_t_label_mismatch_retried,
    "car_t_withdrawn": car_t_withdrawn,
    "car_t_withdrawn_mid_call": car_t_withdrawn_mid_call,
    "booking_retries_exhausted_resumed": booking_retries_exhausted_resumed,
    "receipt_without_temperature": receipt_without_temperature,
    "receipt_never_in_range": receipt_never_in_range,
    "allogeneic_lot_released": allogeneic_lot_released,
    "allogeneic_order_infused": allogeneic_order_infused,
    "in_vivo_lot_released": in_vivo_lot_released,
    "in_vivo_overdose_administered": in_vivo_overdose_administered,
    "in_vivo_overdose_stopped": in_vivo_overdose_stopped,
    "in_vivo_underdose_stopped": in_vivo_underdose_stopped,
    "release_judged_exceptional": release_judged_exceptional,
    "custody_evidence_missing_continued": custody_evidence_missing_continued,
    "custody_never_in_range_abandoned": custody_never_in_range_abandoned,
    "car_t_collection_rescheduled": car_t_collection_rescheduled,
    "in_vivo_follow_up_continued_as_new": in_vivo_follow_up_continued_as_new,
    "in_vivo_not_eligible": in_vivo_not_eligible,
    "ended_early_compensated": ended_early_compensated,
    "parties_cryopreserved_released": parties_cryopreserved_released,
    "interval_deferred_infusion": interval_deferred_infusion,
    "computed_dose_approved": computed_dose_approved,
    "observed_with_breach_and_stop": observed_with_breach_and_stop,
    "hsc_pooled_and_engrafted": hsc_pooled_and_engrafted,
}
