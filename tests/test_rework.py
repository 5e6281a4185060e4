"""Dispositions as QA systems know them, beyond continue and abandon: a rework sends the batch
back to a step the definition allows reprocessing from, and a conditional acceptance lets the
batch go on while its release waits for QA to confirm the conditions met."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from records.ebr_html import render_html
from tests.harness import Harness
from tests.products import REWORKED
from workflows import (
    DefinitionError,
    gate,
    hold,
    parallel,
    process,
    rework,
    stage,
    wait_for,
    within,
)
from workflows.model import (
    AuditAction,
    BatchStatus,
    DecisionAction,
    DeviationKind,
    Role,
)
from workflows.offers import open_decisions


async def _report(
    harness: Harness, handle: WorkflowHandle[Any, Any], step: str, n: int, **value: float
) -> None:
    """The product's example report for `step` (the `n`th), with `value`s for its results."""
    await harness.report_example(
        REWORKED, handle, step, event_id=f"{handle.id}:{step}:{n}", **value
    )


async def _expanded(harness: Harness, handle: WorkflowHandle[Any, Any], n: int) -> None:
    await harness.until_waiting(handle, "at expansion")
    await _report(harness, handle, "expansion", n)
    await harness.until_waiting(handle, "at formulation")


@pytest.mark.requirement("PROD-DEVIATION", "A11-9")
async def test_qa_reworks_a_failed_formulation_from_expansion_and_the_batch_is_released(
    harness: Harness,
) -> None:
    handle = await harness.start(REWORKED)
    await _expanded(harness, handle, 1)
    await _report(harness, handle, "formulation", 1, viability_pct=52.0)
    rec = await harness.advance_until(handle, lambda r: bool(r.open_deviations()), what="OOS")
    (dev,) = rec.open_deviations()
    assert dev.kind == DeviationKind.OUT_OF_SPECIFICATION and dev.rework_to == ("expansion",)
    offered = open_decisions(REWORKED, rec, awaiting_gates=(), roles=[Role.QA])
    assert DecisionAction.REWORK in offered[0].actions
    assert DecisionAction.ACCEPT_CONDITIONALLY not in offered[0].actions, "OOS: no continuing"

    did = dev.deviation_id
    for kw, refused in [
        ({}, "may be reworked from expansion, not None"),
        ({"rework_to": "allocate_coi"}, "may be reworked from expansion, not allocate_coi"),
        ({"rework_to": "expansion", "conditions": "x"}, "conditions go with accept_conditionally"),
        ({"rework_to": "expansion", "reason": " "}, "a disposition needs a written justification"),
    ]:
        assert refused in await harness.refusal(handle, did, DecisionAction.REWORK, **kw)
    assert "a step to rework from goes with rework only" in await harness.refusal(
        handle, did, DecisionAction.ABANDON, reason="no", rework_to="expansion"
    )

    await harness.decide(
        handle,
        did,
        DecisionAction.REWORK,
        reason="re-expand the retained fraction",
        rework_to="expansion",
    )
    # The old expansion's hold would breach 4 days after it; the rework restarted the clock.
    await harness.skip(timedelta(days=3, hours=12))
    await _expanded(harness, handle, 2)
    await harness.skip(timedelta(days=1))
    await _report(harness, handle, "formulation", 2, viability_pct=86.0)
    await harness.until_waiting(handle, "decision at release")
    await harness.decide(handle, "release", DecisionAction.APPROVE)
    rec = await harness.finish(handle)

    assert rec.released and rec.status == BatchStatus.COMPLETED
    assert [d.kind for d in rec.deviations] == [DeviationKind.OUT_OF_SPECIFICATION]
    (disposed,) = rec.deviations
    assert (disposed.disposition, disposed.reworked_from) == (DecisionAction.REWORK, "expansion")
    runs = [(s.step, s.iteration, s.state.value) for s in rec.steps if s.step != "allocate_coi"]
    assert runs == [
        ("expansion", 1, "done"),
        ("formulation", 1, "failed"),
        ("expansion", 2, "done"),
        ("formulation", 2, "done"),
        ("release", 2, "done"),
    ]
    assert rec.results["viability_pct"].value == 86.0
    (started,) = [e for e in rec.audit if e.action == AuditAction.REWORK_STARTED]
    assert started.subject == "expansion" and did in (started.reason or "")
    holds = [c.breached for c in rec.stopped_clocks if c.name == "expansion_to_formulation"]
    assert holds == [False], "the first expansion's hold stopped at the rework, unbreached"
    assert "reworked from expansion" in render_html(rec)


@pytest.mark.requirement("PROD-DEVIATION", "A11-9")
async def test_a_conditional_acceptance_holds_release_until_qa_confirms_the_conditions_met(
    harness: Harness,
) -> None:
    handle = await harness.start(REWORKED)
    await _expanded(harness, handle, 1)
    rec = await harness.advance_until(
        handle, lambda r: bool(r.deviations), step=timedelta(hours=6), what="hold breached"
    )
    (dev,) = rec.deviations
    assert dev.kind == DeviationKind.HOLD_BREACHED
    did = dev.deviation_id
    assert "a conditional acceptance states its conditions" in await harness.refusal(
        handle, did, DecisionAction.ACCEPT_CONDITIONALLY, reason="cells fine", conditions=" "
    )
    assert "conditions go with accept_conditionally only" in await harness.refusal(
        handle, did, DecisionAction.CONTINUE, reason="ok", conditions="sterility"
    )
    assert "allows continue, abandon, accept_conditionally, not rework" in (
        await harness.refusal(handle, did, DecisionAction.REWORK, reason="x", rework_to="x")
    )
    conditions = "extended sterility of the retained sample negative"
    await harness.decide(
        handle,
        did,
        DecisionAction.ACCEPT_CONDITIONALLY,
        reason="one day over; cells held at 2-8 C",
        conditions=conditions,
    )
    await _report(harness, handle, "formulation", 1, viability_pct=88.0)
    rec = await harness.until_waiting(handle, "decision at release")
    assert rec.unmet_conditions()[0].deviation_id == did
    refused = await harness.refusal(handle, "release", DecisionAction.APPROVE)
    assert f"cannot release before the conditions are confirmed met: {did} ({conditions})" in (
        refused
    )
    offered = open_decisions(REWORKED, rec, awaiting_gates=("release",), roles=[Role.QA])
    assert [a.actions for a in offered if a.target == did] == [(DecisionAction.CONDITIONS_MET,)]

    assert "confirming conditions met names the evidence" in await harness.refusal(
        handle, did, DecisionAction.CONDITIONS_MET, reason=""
    )
    assert "may not dispose of a deviation" in await harness.refusal(
        handle, did, DecisionAction.CONDITIONS_MET, reason="LIMS-77", role=Role.OPERATOR
    )
    await harness.decide(handle, did, DecisionAction.CONDITIONS_MET, reason="LIMS-77 negative")
    assert "already disposed of" in await harness.refusal(
        handle, did, DecisionAction.CONDITIONS_MET, reason="again"
    )
    await harness.decide(handle, "release", DecisionAction.APPROVE)
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.COMPLETED
    (done,) = rec.deviations
    assert (done.conditions, done.conditions_met) == (conditions, "LIMS-77 negative")
    actions = [e.action for e in rec.audit]
    assert AuditAction.DECISION_ACCEPT_CONDITIONALLY in actions
    assert AuditAction.DECISION_CONDITIONS_MET in actions
    assert "(met: LIMS-77 negative)" in render_html(rec)


def _reworked(*reworks: Any) -> Any:
    return process(
        "test-rework-rules",
        version="1",
        title="rework rules",
        specification={"viability_pct": within(min=70)},
        reworks=list(reworks),
        stages=[
            stage(
                "only",
                wait_for("expansion", "mes.operation_done", deadline=timedelta(days=1)),
                hold("expansion_hold", start="expansion", end="release", max=timedelta(days=9)),
                parallel(
                    "tests",
                    wait_for("a", "lims.result", deadline=timedelta(days=1)),
                    wait_for(
                        "b", "lims.result", deadline=timedelta(days=1), records=("viability_pct",)
                    ),
                ),
                gate("release", roles=(Role.QA,), meaning="release", release=True),
                wait_for("infusion", "hospital.infused", deadline=timedelta(days=1)),
            )
        ],
    )


def test_the_compiler_refuses_a_rework_it_could_not_carry_out() -> None:
    assert _reworked(rework("tests", back_to="expansion")).rework_targets("tests") == ("expansion",)
    for bad, rule in [
        (rework("nothing", back_to="expansion"), "unknown rework step"),
        (rework("tests", back_to="b"), "rework to an unknown step"),
        (rework("expansion", back_to="tests"), "rework forward"),
        (rework("a", back_to="expansion"), "rework inside a parallel"),
        (rework("infusion", back_to="expansion"), "rework after release"),
        (rework("expansion_hold", back_to="expansion"), "rework of a step that never deviates"),
    ]:
        with pytest.raises(DefinitionError) as err:
            _reworked(bad)
        assert rule in str(err.value)
