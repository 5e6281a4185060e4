"""No release and no administration past an unjudged or out-of-specification result.

Whole batches that try to get past the specification: a computed dose under its minimum
(and one capped at its maximum), a release whose gate does not name a result, an assay that
never reported.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from activities import Fault
from definitions import IN_VIVO_PATIENT
from tests.harness import Harness
from tests.products import RELEASE_JUDGED
from workflows.client import decide as submit
from workflows.judgement import release_refusal
from workflows.model import (
    BatchRecord,
    BatchStatus,
    DecisionAction,
    Deviation,
    DeviationKind,
    RecordedResult,
    StepState,
)


async def _refusal(harness: Harness, handle: WorkflowHandle[Any, Any], target: str) -> str:
    before = await harness.record(handle)
    decision = await harness.sign(handle, target, DecisionAction.APPROVE)
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await submit(harness.client, handle.id, decision)
    after = await harness.record(handle)
    assert after.version == before.version and not after.released
    return str(info.value.cause)


async def _open(harness: Harness, handle: WorkflowHandle[Any, Any], kind: str) -> Deviation:
    rec = await harness.advance_until(
        handle, lambda r: any(d.kind == kind and d.is_open for d in r.deviations), what=kind
    )
    return next(d for d in rec.deviations if d.kind == kind and d.is_open)


async def test_in_vivo_underdose_stops_before_the_vials_are_allocated(harness: Harness) -> None:
    # 12 kg x 5e11 vg/kg = 6e12 vg, under the 1e13 vg minimum the specification sets.
    handle = await harness.start(IN_VIVO_PATIENT, weight_kg=12)
    dev = await _open(harness, handle, DeviationKind.OUT_OF_SPECIFICATION)
    rec = await harness.record(handle)
    assert dev.step == "dose_calculation" and dev.results == ("dose_vg",)
    assert "dose_vg=6e+12 vg (limit >= 1e+13 and <= 1e+14 vg)" in dev.description
    assert rec.status == BatchStatus.QUARANTINED
    # Held for a person: nothing after the calculation may start, however long we wait.
    await harness.skip(timedelta(days=3))
    rec = await harness.record(handle)
    assert [s.step for s in rec.steps][-1] == "dose_calculation"
    assert not rec.infused and rec.status == BatchStatus.QUARANTINED
    await harness.decide(handle, dev.deviation_id, DecisionAction.ABANDON, reason="dose under min")
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ABANDONED and not rec.infused
    assert not any(s.step == "allocate_vials" for s in rec.steps)


async def test_in_vivo_dose_is_capped_at_its_maximum_and_recorded_with_its_input(
    harness: Harness,
) -> None:
    # The 260 kg patient that once reached administration at 1.3e14 vg now gets the maximum.
    handle = await harness.start(IN_VIVO_PATIENT, weight_kg=260)
    rec = await harness.advance_until(
        handle, lambda r: any(s.step == "allocate_vials" for s in r.steps), what="allocation"
    )
    dose = rec.results["dose_vg"]
    assert dose.value == 1e14 and dose.in_specification is True
    assert rec.results["vials_needed"].value == 10.0
    computed = next(e for e in rec.audit if e.action == "value.computed")
    assert json.loads(computed.old_value or "") == {"weight_kg": 260.0}
    # (No lot is in stock on this server: allocation itself may be refused; that is not OOS.)
    assert not any(d.kind == DeviationKind.OUT_OF_SPECIFICATION for d in rec.deviations)
    await handle.cancel()
    await harness.finish(handle)


async def test_oos_dose_the_gate_does_not_name_needs_exceptional_release(
    harness: Harness,
) -> None:
    handle = await harness.start(RELEASE_JUDGED, weight_kg=260)
    dev = await _open(harness, handle, DeviationKind.OUT_OF_SPECIFICATION)
    assert dev.step == "dose" and dev.results == ("dose_vg",)
    assert set(dev.allowed) == {
        DecisionAction.RETRY,
        DecisionAction.EXCEPTIONAL_RELEASE,
        DecisionAction.ABANDON,
    }
    await harness.request_exceptional_release(handle, dev.deviation_id)
    await harness.decide(
        handle,
        dev.deviation_id,
        DecisionAction.EXCEPTIONAL_RELEASE,
        reason="physician request: no alternative therapy",
    )
    await harness.until_waiting(handle, "decision at release")
    await harness.decide(handle, "release", DecisionAction.APPROVE)
    rec = await harness.finish(handle)
    assert rec.released and rec.exceptional_release
    assert rec.results["dose_vg"].in_specification is False


@pytest.mark.requirement("PROD-RELEASE", "A11-15")
async def test_release_refused_while_a_specified_result_is_missing(harness: Harness) -> None:
    # The LIMS never takes the request: retries run out and QA lets the step go on without it.
    handle = await harness.start(
        RELEASE_JUDGED,
        weight_kg=70,
        faults=[Fault(kind="flaky", step="sterility_test", times=3)],
    )
    dev = await _open(harness, handle, DeviationKind.RETRIES_EXHAUSTED)
    await harness.decide(handle, dev.deviation_id, DecisionAction.CONTINUE, reason="LIMS down")
    await harness.until_waiting(handle, "decision at release")
    reason = await _refusal(harness, handle, "release")
    assert reason.endswith("cannot release: no result yet for sterility")
    await harness.decide(handle, "release", DecisionAction.REJECT, reason="no sterility result")
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ABANDONED and not rec.released


@pytest.mark.requirement("PROD-RELEASE")
async def test_oos_assay_the_gate_does_not_name_blocks_release(harness: Harness) -> None:
    handle = await harness.start(
        RELEASE_JUDGED, weight_kg=70, faults=[Fault(kind="oos", result="sterility")]
    )
    dev = await _open(harness, handle, DeviationKind.OUT_OF_SPECIFICATION)
    assert dev.step == "sterility_test" and dev.results == ("sterility",)
    run = next(s for s in (await harness.record(handle)).steps if s.step == "sterility_test")
    assert run.state == StepState.FAILED
    await harness.decide(handle, dev.deviation_id, DecisionAction.ABANDON, reason="positive")
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ABANDONED and not rec.released


def _record(**results: tuple[float | str, bool, datetime]) -> BatchRecord:
    return BatchRecord(
        batch_id="B-TESTRELEASE",
        product="p",
        definition_version="1",
        definition_hash="h",
        order_id="o",
        sites={},
        results={
            name: RecordedResult(
                name=name,
                value=value,
                unit="",
                step="s",
                at=at,
                reporter="lims",
                in_specification=ok,
                limit="<= 1",
            )
            for name, (value, ok, at) in results.items()
        },
    )


def test_an_exceptional_release_covers_only_the_value_it_was_signed_for() -> None:
    from workflows import within

    spec = {"x": within(max=1)}
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rec = _record(x=(2.0, False, t0))
    assert release_refusal(rec, spec) == (
        "cannot release: out of specification without a signed exceptional release: "
        "x=2 (limit <= 1)"
    )
    accepted = Deviation(
        deviation_id="DEV-1",
        kind=DeviationKind.OUT_OF_SPECIFICATION,
        step="s",
        opened_at=t0,
        description="x",
        allowed=(DecisionAction.EXCEPTIONAL_RELEASE,),
        disposition=DecisionAction.EXCEPTIONAL_RELEASE,
        results=("x",),
    )
    rec.deviations.append(accepted)
    assert release_refusal(rec, spec) is None
    # Re-tested later: a new value nobody has accepted.
    retested = _record(x=(3.0, False, t0 + timedelta(days=1)))
    retested.deviations.append(accepted)
    assert release_refusal(retested, spec) is not None
    # A disposition that names another result covers nothing here.
    other = _record(x=(2.0, False, t0))
    other.deviations.append(accepted.model_copy(update={"results": ("y",)}))
    assert release_refusal(other, spec) is not None
