"""A released lot's doses are allocated only within the shelf life its product declares
(`release_to_inventory(shelf_life=...)`): past it, an order is refused them and opens a
deviation saying so, and a fresh lot serves it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from tests.harness import Harness
from tests.products import EXPIRING_ADMINISTRATION, EXPIRING_LOT, EXPIRING_ORDER
from workflows.model import (
    BatchRecord,
    BatchStatus,
    ClockKind,
    DecisionAction,
    DeviationKind,
)


async def _run(harness: Harness, product, **kw) -> BatchRecord:  # type: ignore[no-untyped-def]
    handle = await harness.start(product, **kw)
    return await harness.advance_until(
        handle, lambda r: r.finished or bool(r.open_deviations()), what="end or deviation"
    )


@pytest.mark.requirement("C1271-290")
async def test_doses_past_their_shelf_life_are_never_allocated(harness: Harness) -> None:
    old = await _run(harness, EXPIRING_LOT)
    assert old.finished and not old.deviations
    fresh_order = await _run(harness, EXPIRING_ORDER)
    assert fresh_order.finished and fresh_order.lots == [old.coi]

    await harness.skip(timedelta(days=31))
    late = await _run(harness, EXPIRING_ORDER)
    (dev,) = late.open_deviations()
    assert dev.step == "allocate_dose" and dev.kind == DeviationKind.STEP_FAILED
    assert "0 dose(s) available, 1 needed (1 past their shelf life)" in dev.description

    new = await _run(harness, EXPIRING_LOT)
    served = await _run(harness, EXPIRING_ORDER)
    assert served.finished and served.lots == [new.coi]


async def _administer(harness: Harness, handle: WorkflowHandle[Any, Any]) -> None:
    await harness.report_example(EXPIRING_ADMINISTRATION, handle, "administration", reporter="ctc")


@pytest.mark.requirement("C1271-290")
async def test_an_allocated_dose_expiring_before_administration_opens_a_deviation_by_itself(
    harness: Harness,
) -> None:
    await _run(harness, EXPIRING_LOT)
    released = await harness.env.get_current_time()
    handle = await harness.start(EXPIRING_ADMINISTRATION)
    rec = await harness.until_waiting(handle, "at administration")
    (clock,) = [c for c in rec.clocks if c.kind == ClockKind.SHELF_LIFE]
    assert clock.name == "allocate_dose"
    assert timedelta(days=29) < clock.limit - released <= timedelta(days=30, minutes=5)

    # Nobody reports anything: the clock alone quarantines the batch when the dose expires.
    rec = await harness.advance_until(
        handle, lambda r: bool(r.open_deviations()), step=timedelta(days=1), what="expiry"
    )
    (dev,) = rec.open_deviations()
    assert (dev.kind, dev.step, dev.blocking) == (
        DeviationKind.MATERIAL_EXPIRED,
        "allocate_dose",
        True,
    )
    assert rec.status == BatchStatus.QUARANTINED
    assert [c.breached for c in rec.stopped_clocks if c.kind == ClockKind.SHELF_LIFE] == [True]
    assert "needs the requesting physician's signed request first" in await harness.refusal(
        handle, dev.deviation_id, DecisionAction.EXCEPTIONAL_RELEASE, reason="only dose"
    )
    await harness.decide(handle, dev.deviation_id, DecisionAction.ABANDON, reason="expired")
    done = await harness.finish(handle)
    assert done.status == BatchStatus.ABANDONED
    assert any("return_doses" in c for c in done.compensations)


async def test_a_dose_administered_within_its_shelf_life_stops_the_clock(harness: Harness) -> None:
    await _run(harness, EXPIRING_LOT)
    handle = await harness.start(EXPIRING_ADMINISTRATION)
    await harness.until_waiting(handle, "at administration")
    await harness.skip(timedelta(days=10))
    await _administer(harness, handle)
    done = await harness.finish(handle)
    assert done.status == BatchStatus.COMPLETED and not done.deviations
    assert [c.breached for c in done.stopped_clocks if c.kind == ClockKind.SHELF_LIFE] == [False]
