"""QA reviews the record of a running batch (signed), and a product that says so is released
only over a review that covers everything its record holds."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from tests.harness import Harness
from tests.products import REPORTED_BY_HAND, REVIEWED_RELEASE
from workflows import DefinitionError, gate, process, stage
from workflows.authority import TargetKind, target_authority
from workflows.model import BatchRecord, DecisionAction, Role
from workflows.offers import open_decisions
from workflows.review import RECORD_REVIEW, REVIEW_MEANING


async def _report(harness: Harness, handle: WorkflowHandle[Any, Any], step: str) -> None:
    """The product's example report for `step`, for this batch, in specification."""
    await harness.report_example(REVIEWED_RELEASE, handle, step)


async def at_release(harness: Harness) -> WorkflowHandle[Any, Any]:
    """A batch of the reviewed product with its receipt and assay reported, at its release."""
    handle = await harness.start(REVIEWED_RELEASE)
    for step, waits in [("receipt", "event custody at receipt"), ("assay", "at assay")]:
        await harness.until_waiting(handle, waits)
        await _report(harness, handle, step)
    await harness.until_waiting(handle, "decision at release")
    return handle


async def _review(harness: Harness, handle: WorkflowHandle[Any, Any], reason: str) -> None:
    """QA's signed review, with the meaning the service and CLI give it."""
    await harness.decide(
        handle, RECORD_REVIEW, DecisionAction.APPROVE, reason=reason, meaning=REVIEW_MEANING
    )


@pytest.mark.requirement("PROD-REVIEW", "A11-15", "P11-50")
async def test_release_waits_for_a_review_that_covers_the_whole_record(harness: Harness) -> None:
    handle = await harness.start(REVIEWED_RELEASE)
    await harness.until_waiting(handle, "event custody at receipt")
    await _report(harness, handle, "receipt")
    await harness.until_waiting(handle, "event lims.result at assay")

    # Not offered while no release waits; reviewed early all the same, the assay results
    # recorded afterwards make the review stale.
    assert RECORD_REVIEW not in _offered(await harness.record(handle), waiting=())
    await _review(harness, handle, "custody reviewed")
    await _report(harness, handle, "assay")
    rec = await harness.until_waiting(handle, "decision at release")
    stale = await harness.refusal(handle, "release", DecisionAction.APPROVE)
    assert "the batch record changed after its review (result.recorded" in stale
    assert RECORD_REVIEW in _offered(rec)
    review = target_authority(REVIEWED_RELEASE, rec, RECORD_REVIEW)
    assert review is not None and review.kind == TargetKind.RECORD
    # A product without the rule may still be reviewed, but never offers it as due.
    assert RECORD_REVIEW not in _offered(rec, REPORTED_BY_HAND.product)

    # Only QA reviews, and a review approves the record read.
    assert "may not review the batch record" in await harness.refusal(
        handle, RECORD_REVIEW, DecisionAction.APPROVE, role=Role.OPERATOR
    )
    assert "a record review approves the record read" in await harness.refusal(
        handle, RECORD_REVIEW, DecisionAction.REJECT, reason="no"
    )

    await _review(harness, handle, "by exception")
    assert RECORD_REVIEW not in _offered(await harness.record(handle))
    await harness.decide(handle, "release", DecisionAction.APPROVE)
    released = await harness.advance_until(handle, lambda r: r.released, what="released")
    reviews = [s for s in released.signatures if s.target == RECORD_REVIEW]
    assert [s.reason for s in reviews] == ["custody reviewed", "by exception"]
    assert {s.meaning for s in reviews} == {REVIEW_MEANING}
    await harness.finish(handle)


async def test_a_release_never_reviewed_is_refused_naming_the_review(harness: Harness) -> None:
    handle = await at_release(harness)
    refused = await harness.refusal(handle, "release", DecisionAction.APPROVE)
    assert "cannot release before QA reviews the batch record" in refused
    assert not (await harness.record(handle)).released
    await handle.cancel()
    await harness.finish(handle)


def test_a_review_holds_only_a_release_and_its_name_is_no_step_name() -> None:
    with pytest.raises(DefinitionError) as err:
        process(
            "test-bad-review",
            version="1",
            title="A record review on a gate that releases nothing, and a step named like it",
            specification={},
            stages=[
                stage(
                    "only",
                    gate("check", roles=(Role.QA,), meaning="checked", record_review=True),
                    gate(RECORD_REVIEW, roles=(Role.QA,), meaning="reviewed"),
                )
            ],
        )
    rules = {(v.step, v.rule) for v in err.value.violations}
    assert {("check", "record review off release"), (RECORD_REVIEW, "reserved name")} <= rules


def _offered(
    rec: BatchRecord,
    product: str = REVIEWED_RELEASE.product,
    waiting: tuple[str, ...] = ("release",),
) -> set[str]:
    """What the console offers QA on this batch now, as if it were of `product`."""
    defn = REVIEWED_RELEASE if product == REVIEWED_RELEASE.product else REPORTED_BY_HAND
    found = open_decisions(defn, rec, awaiting_gates=waiting, roles=[Role.QA])
    return {a.target for a in found}


def test_the_simulator_reviews_the_record_before_it_releases() -> None:
    from simulation.network import run_one
    from simulation.trace import trace

    sites = {
        "treatment_centre": "TC-NORTH",
        "manufacturing_site": "MFG-CONFORM",
        "courier": "COURIER-CRYO",
    }
    got = trace(run_one(REVIEWED_RELEASE, faults=[], decisions={}, sites=sites))
    assert got.status == "completed" and "step release #1: done" in got.lines()
