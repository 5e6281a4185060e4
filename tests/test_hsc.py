"""The fourth reference product, written with public names only: ex vivo gene-modified HSC
therapy with pooled collections, a conditioning window and engraftment observations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from activities import Fault
from definitions import HSC_GENE_THERAPY as HSC
from tests.harness import Harness
from workflows.model import BatchStatus, DecisionAction

SITES = {
    "treatment_centre": "TC-NORTH",
    "apheresis_unit": "APH-WEST",
    "central_lab": "LAB-CENTRAL",
    "plant": "MFG-EAST",
    "courier": "COURIER-CRYO",
}


@pytest.fixture(autouse=True)
def _cells(harness: Harness) -> Iterator[None]:
    """The product's own simulated values, whatever another test set before."""
    with harness.simulating("cd34_cells", nominal=1.6e8, failing=2.0e7, unit="cells"):
        yield


async def test_collections_pool_to_the_target_and_the_patient_is_treated(
    harness: Harness,
) -> None:
    handle = await harness.start(HSC, sites=SITES, weight_kg=70)
    rec = await harness.until_waiting(handle, "decision at qa_release", step=timedelta(days=2))
    collections = [s.iteration for s in rec.steps if s.step == "apheresis"]
    assert collections == [1, 2], "one collection is short of the target; the second reaches it"
    pooled = rec.results["cd34_pooled_per_kg"]
    assert pooled.in_specification and pooled.value >= 4e6
    assert len([e for e in rec.audit if e.action == "value.computed"]) == 2
    assert harness.world.site_called(f"{handle.id}:cd34_count:count_cd34:i1r0") == "LAB-CENTRAL"
    await harness.decide(handle, "qa_release", DecisionAction.APPROVE)
    rec = await harness.advance_until(
        handle, lambda r: len(r.observations) == 6, what="six ANC counts", step=timedelta(days=2)
    )
    runs = {s.step: s for s in rec.steps}
    conditioned = runs["conditioning"].ended_at
    assert conditioned is not None
    assert runs["infusion"].started_at >= conditioned + timedelta(days=2)
    assert rec.infused and not rec.deviations
    assert [o.occurrence for o in rec.observations] == [1, 2, 3, 4, 5, 6]
    assert all(o.in_specification for o in rec.observations)


async def test_too_few_cells_after_three_collections_abandons_and_compensates(
    harness: Harness,
) -> None:
    handle = await harness.start(
        HSC, sites=SITES, weight_kg=70, faults=[Fault(kind="oos", result="cd34_cells", times=3)]
    )
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ABANDONED
    assert rec.abandoned_reason is not None and "cd34_pooled_per_kg" in rec.abandoned_reason
    assert [s.iteration for s in rec.steps if s.step == "apheresis"] == [1, 2, 3]
    assert "apheresis: cancel_apheresis" in rec.compensations
