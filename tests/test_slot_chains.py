"""A batch whose slot is a chain: collection chair, manufacturing lane and infusion chair are
booked together when the batch books, move together when the hospital reschedules the
collection, and are all released when the batch is withdrawn."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from records.reservations import Reservations
from tests.harness import Harness
from tests.products import CHAINED_SLOTS
from workflows import DefinitionError, call, minutes, process, stage, task
from workflows.client import report_event
from workflows.entities import Slot
from workflows.model import ExternalEvent

TC, MFG = "TC-CHAIN", "MFG-CHAIN"


def _chain(harness: Harness, batch_id: str) -> dict[str, Slot]:
    res = Reservations(harness.ledger.engine)
    return {
        s.key.split(":", 1)[1]: s
        for site in (TC, MFG)
        for s in res.bookings(site)
        if s.batch_id == batch_id
    }


async def test_a_slot_chain_is_booked_moved_and_released_as_one(harness: Harness) -> None:
    h = await harness.start(CHAINED_SLOTS, treatment_centre=TC, manufacturing_site=MFG)
    await harness.until_waiting(h, "event collection.completed at apheresis")

    booked = _chain(harness, h.id)
    assert set(booked) == {"slot", "slot:collection", "slot:infusion"}
    anchor = booked["slot"].start
    assert booked["slot:collection"].start == anchor - timedelta(days=3)
    assert booked["slot:infusion"].start == anchor + timedelta(days=16)

    now = await harness.env.get_current_time()
    await report_event(
        harness.client,
        ExternalEvent(
            event_id=f"{h.id}:resched",
            batch_id=h.id,
            step="apheresis",
            type="collection.completed",
            reporter=f"{TC}/scheduler",
            occurred_at=now,
            outcome="rescheduled",
            data={"new_date": (anchor + timedelta(days=12)).isoformat()},
        ),
    )
    await harness.advance_until(h, lambda r: any(e.action == "step.rescheduled" for e in r.audit))

    # The move is a call after the reschedule is recorded: wait for it in real time. The two
    # sites are read one after the other, so a read can straddle the move: wait until every
    # leg has moved, then hold them to one shift.
    for _ in range(300):
        moved = _chain(harness, h.id)
        if all(moved[k].start != booked[k].start for k in booked):
            break
        await asyncio.sleep(0.2)
    shift = moved["slot"].start - anchor
    assert shift >= timedelta(days=12)
    assert {k: s.start - booked[k].start for k, s in moved.items()} == dict.fromkeys(moved, shift)

    await h.cancel()
    await harness.finish(h)
    assert _chain(harness, h.id) == {}


@pytest.mark.parametrize(
    ("chain", "problem"),
    [
        ("collection@pharmacy:-3:1", "slot chain leg 'collection' is at 'pharmacy'"),
        ("collection@treatment_centre:-3", "must be a slot chain"),
        ("slot@treatment_centre:2:1", "'slot' names the anchor slot itself"),
        ("a@treatment_centre:1:1,a@treatment_centre:2:1", "leg 'a' appears twice"),
    ],
)
def test_a_chain_the_product_cannot_book_does_not_compile(chain: str, problem: str) -> None:
    with pytest.raises(DefinitionError, match=problem):
        process(
            "test-bad-chain",
            version="1",
            title="A chain with a mistake",
            specification={},
            stages=[
                stage(
                    "only",
                    task(
                        "book_slot",
                        call(
                            "book_slot",
                            at="manufacturing_site",
                            timeout=minutes(1),
                            attempts=2,
                            chain=chain,
                        ),
                    ),
                )
            ],
        )
