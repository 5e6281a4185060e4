"""Allogeneic lots and orders, in vivo dosing with 15-year follow-up, and slot capacity."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from activities import Fault, SimulatedWorld
from definitions import (
    ALLOGENEIC_DONOR_LOT,
    ALLOGENEIC_PATIENT_ORDER,
    AUTOLOGOUS_CD19_CAR_T,
    IN_VIVO_LOT,
    IN_VIVO_PATIENT,
)
from definitions.allogeneic_edited import INVENTORY as ALLO
from records.reservations import Reservations
from tests.conftest import new_ledger, running_harness, time_skipping_env
from tests.harness import Harness
from workflows.client import report_event
from workflows.entities import CapacityState, InventoryState
from workflows.model import (
    BatchStatus,
    DecisionAction,
    DeviationKind,
    ExternalEvent,
    ResultValue,
    StepState,
)
from workflows.signatures import SigningKey


@pytest.fixture(scope="module")
async def harness(
    tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey
) -> AsyncIterator[Harness]:
    """This module's own server and worker: 15 years of simulated time and never-ending entity
    workflows stay out of the server the other tests share."""
    world = SimulatedWorld(seed=13)  # its report scheduler points at this module's server
    with new_ledger(tmp_path_factory) as ledger:
        async with (
            time_skipping_env() as env,
            running_harness(env, world, ledger, signing_key) as h,
        ):
            yield h


async def _stock(harness: Harness, product: str) -> InventoryState:
    now = await harness.env.get_current_time()
    return Reservations(harness.ledger.engine).stock(product, now)


async def _calendar(harness: Harness, site: str) -> CapacityState:
    return Reservations(harness.ledger.engine).calendar(site, lanes=4)


async def _release_lot(harness: Harness, definition: Any, gate: str) -> str:
    lot = await harness.start(definition)
    await harness.until_waiting(lot, f"decision at {gate}")
    await harness.decide(lot, gate, DecisionAction.APPROVE)
    rec = await harness.finish(lot)
    assert rec.status == BatchStatus.COMPLETED and rec.released
    assert rec.coi
    return rec.coi


async def test_allogeneic_lot_releases_doses_that_orders_allocate_once(harness: Harness) -> None:
    coi = await _release_lot(harness, ALLOGENEIC_DONOR_LOT, "qa_lot_release")
    before = await _stock(harness, ALLO)
    assert f"{coi}-D001" in before.available

    orders = [await harness.start(ALLOGENEIC_PATIENT_ORDER) for _ in range(3)]
    records = [await harness.finish(o) for o in orders]
    assert all(r.status == BatchStatus.COMPLETED for r in records)
    assert all(coi in r.lots for r in records)
    after = await _stock(harness, ALLO)
    allocated = [d for a in after.allocations.values() for d in a.doses]
    assert len(allocated) == len(set(allocated)), "a dose was allocated twice"
    assert len(after.available) == len(before.available) - 3

    withdrawn = await harness.start(ALLOGENEIC_PATIENT_ORDER)
    await harness.advance_until(withdrawn, lambda r: bool(r.lots))
    await withdrawn.cancel()
    rec = await harness.finish(withdrawn)
    assert rec.status == BatchStatus.ABANDONED
    assert "allocate_dose: return_doses" in rec.compensations
    assert len((await _stock(harness, ALLO)).available) == len(after.available)


async def test_concurrent_orders_never_overallocate(harness: Harness) -> None:
    await _release_lot(harness, ALLOGENEIC_DONOR_LOT, "qa_lot_release")
    stock = len((await _stock(harness, ALLO)).available)
    orders = await asyncio.gather(
        *(harness.start(ALLOGENEIC_PATIENT_ORDER) for _ in range(stock + 3))
    )
    recs = await harness.settle(orders, lambda r: bool(r.lots) or bool(r.deviations))
    refused = [r for r in recs if r.deviations]
    assert len(refused) == 3
    assert all("dose(s) available" in r.deviations[0].description for r in refused)
    inv = await _stock(harness, ALLO)
    allocated = [d for a in inv.allocations.values() for d in a.doses]
    assert len(allocated) == len(set(allocated))
    assert not inv.available
    for o in orders:
        await o.cancel()
    await harness.settle(orders, lambda r: r.abandoned_reason is not None)
    assert len((await _stock(harness, ALLO)).available) == stock


async def test_in_vivo_weight_based_dose_and_fifteen_years_of_follow_up(harness: Harness) -> None:
    await _release_lot(harness, IN_VIVO_LOT, "qa_lot_release")
    handle = await harness.start(
        IN_VIVO_PATIENT,
        weight_kg=72.5,
        faults=[Fault(kind="silent", step="long_term_follow_up", times=1)],
    )
    started = await harness.env.get_current_time()
    rec = await harness.advance_until(
        handle,
        lambda r: any(d.kind == DeviationKind.VISIT_MISSED for d in r.deviations),
        step=timedelta(days=5),
        limit=timedelta(days=200),
    )
    assert rec.results["dose_vg"].value == 5e11 * 72.5
    assert rec.results["vials_needed"].value == 4.0
    assert len(rec.lots) >= 1
    missed = next(d for d in rec.deviations if d.kind == DeviationKind.VISIT_MISSED)
    assert rec.status == BatchStatus.ACTIVE, "a missed visit does not stop the follow-up"
    await harness.decide(
        handle, missed.deviation_id, DecisionAction.CONTINUE, reason="patient moved"
    )
    rec = await harness.advance_until(
        handle,
        lambda r: r.completed,
        step=timedelta(days=30),
        limit=timedelta(days=30 * 365),
        what="follow-up completed",
    )
    elapsed = await harness.env.get_current_time() - started
    # The last visit is due at year 15; its window opens 30 days early.
    assert timedelta(days=15 * 365 - 31) < elapsed < timedelta(days=15 * 365 + 31)
    visits = [s for s in rec.steps if s.step == "long_term_follow_up"]
    assert len(visits) == 1 and visits[0].state == StepState.DONE
    done = [e for e in rec.audit if e.action == "visit.completed"]
    assert len(done) == 16  # 17 scheduled visits, one missed
    # Each visit ran in its own run (continue-as-new): the last run's history is short.
    history = await handle.fetch_history()
    assert len(history.events) < 300
    assert not rec.open_deviations()


async def test_slots_are_never_overbooked(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    # A window that leaves exactly one possible start day: 4 lanes, so 4 slots.
    window = {
        "manufacturing_site": "MFG-TIGHT",
        "treatment_window_start": now,
        # [now+3d, now+4d) holds exactly one midnight: one start day for the whole site.
        "treatment_window_end": now + timedelta(days=3 + 1 + 14 + 7, minutes=-1),
    }
    handles = await asyncio.gather(
        *(harness.start(AUTOLOGOUS_CD19_CAR_T, **window) for _ in range(6))
    )
    recs = await harness.settle(
        handles,
        lambda r: any(s.step == "book_slot" and s.state != StepState.ACTIVE for s in r.steps),
    )
    refused = [r for r in recs if r.deviations]
    assert len(refused) == 2
    assert all("no slot at MFG-TIGHT" in r.deviations[0].description for r in refused)
    cal = await _calendar(harness, "MFG-TIGHT")
    assert len(cal.bookings) == 4
    assert sorted(s.lane for s in cal.bookings.values()) == [1, 2, 3, 4]
    for h in handles:
        await h.cancel()
    await harness.settle(handles, lambda r: r.abandoned_reason is not None)
    assert not (await _calendar(harness, "MFG-TIGHT")).bookings


async def test_rescheduled_collection_moves_the_slot(harness: Harness) -> None:
    handle = await harness.start(
        AUTOLOGOUS_CD19_CAR_T,
        manufacturing_site="MFG-RESCHED",
        faults=[Fault(kind="silent", step="apheresis", times=1)],
    )
    rec = await harness.until_waiting(handle, "event collection.completed at apheresis")
    before = (await _calendar(harness, "MFG-RESCHED")).bookings[f"{handle.id}:slot"]
    now = await harness.env.get_current_time()
    new_date = (now + timedelta(days=9)).isoformat()
    event = ExternalEvent(
        event_id="hospital-resched-1",
        batch_id=handle.id,
        step="apheresis",
        type="collection.completed",
        reporter="TC-NORTH/scheduler",
        occurred_at=now,
        outcome="rescheduled",
        data={"new_date": new_date},
    )
    await report_event(harness.client, event)
    await harness.advance_until(
        handle, lambda r: any(e.action == "step.rescheduled" for e in r.audit)
    )
    # The step records the reschedule, then moves the slot: wait for the move itself.
    for _ in range(300):
        after = (await _calendar(harness, "MFG-RESCHED")).bookings[f"{handle.id}:slot"]
        if after.start != before.start:
            break
        await asyncio.sleep(0.1)
    assert after.start > before.start and after.start >= now + timedelta(days=9)
    done = event.model_copy(
        update={
            "event_id": "hospital-done-1",
            "outcome": "ok",
            "data": {},
            "results": {"cd3_cells": ResultValue(value=2.0e9, unit="cells")},
        }
    )
    await report_event(harness.client, done)
    rec = await harness.advance_until(handle, lambda r: "cd3_cells" in r.results)
    assert rec.results["cd3_cells"].in_specification
    await handle.cancel()
    await harness.finish(handle)
    assert f"{handle.id}:slot" not in (await _calendar(harness, "MFG-RESCHED")).bookings
