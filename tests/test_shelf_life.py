"""A released lot's doses are allocated only within the shelf life its product declares
(`release_to_inventory(shelf_life=...)`): past it, an order is refused them and opens a
deviation saying so, and a fresh lot serves it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.harness import Harness
from tests.products import EXPIRING_LOT, EXPIRING_ORDER
from workflows.model import BatchRecord, DeviationKind


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
