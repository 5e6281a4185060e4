"""Activities that book slots and allocate doses in the records database.

Slots and doses are reservations in the records database (`records.reservations`): one short
transaction each, keyed so that a retried activity books or allocates once, and refused by
the database itself when it would overbook. Earlier versions kept them in one Temporal
workflow per site and per product (`workflows.entities`); the first reservation at a site or of
a product carries that workflow's state over, once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import TypeAdapter
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from records.reservations import NoCapacity, OutOfStock, Reservations
from records.slots import SlotLeg
from workflows.entities import (
    AddLot,
    AllocateRequest,
    CapacityState,
    InventoryState,
    Slot,
    SlotRequest,
)
from workflows.model import ResultValue, StepCall, StepOutput
from workflows.slots import parse_chain
from workflows.vocabulary import BusinessError

T = TypeVar("T")

#: Lanes of a manufacturing site the sites configuration does not size.
DEFAULT_LANES = 4


def capacity_id(site: str) -> str:
    """Workflow id of a site's slot calendar in earlier versions."""
    return f"capacity-{site}"


def inventory_id(product: str) -> str:
    """Workflow id of a product's inventory in earlier versions."""
    return f"inventory-{product}"


_DURATION = TypeAdapter(timedelta)


def _now() -> datetime:
    # The server's clock, not this host's: under time-skipping tests the two differ by weeks.
    return activity.info().current_attempt_scheduled_time


class EntityActivities:
    """Slot and inventory activities bound to the reservations store (and, to carry the
    state of earlier versions over, a Temporal client)."""

    def __init__(
        self,
        reservations: Reservations,
        client: Client | None = None,
        lanes: dict[str, int] | None = None,
    ):
        self._res = reservations
        self._client = client
        self._lanes = lanes or {}

    async def _reserve(self, fn: Callable[[], T]) -> T:
        """Run a reservation off the event loop; a business refusal is final for the step."""
        try:
            return await asyncio.to_thread(fn)
        except NoCapacity as err:
            raise ApplicationError(
                str(err), type=BusinessError.NO_CAPACITY, non_retryable=True
            ) from err
        except OutOfStock as err:
            raise ApplicationError(
                str(err), type=BusinessError.OUT_OF_STOCK, non_retryable=True
            ) from err

    async def _legacy(self, name: str, query: str, result_type: type[T]) -> T | None:
        """The state of an earlier version's entity workflow, or None where there was none."""
        if self._client is None:
            return None
        handle = self._client.get_workflow_handle(name)
        try:
            state: T = await handle.query(
                query, result_type=result_type, rpc_timeout=timedelta(seconds=30)
            )
            return state
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def _site(self, site: str) -> int:
        """The site's lane count, after carrying its earlier calendar over (once)."""
        name = capacity_id(site)
        if not await asyncio.to_thread(self._res.imported, name):
            cal = await self._legacy(name, "calendar", CapacityState)
            bookings = list(cal.bookings.values()) if cal else []
            await asyncio.to_thread(self._res.carry_over, name, site=site, slots=bookings)
        return self._lanes.get(site, DEFAULT_LANES)

    async def _product(self, product: str) -> None:
        """Carry the product's earlier inventory over (once)."""
        name = inventory_id(product)
        if await asyncio.to_thread(self._res.imported, name):
            return
        stock = await self._legacy(name, "stock", InventoryState)
        await asyncio.to_thread(
            self._res.carry_over,
            name,
            product=product,
            lots=stock.lots_added if stock else (),
            available=stock.available if stock else (),
            allocations=stock.allocations.values() if stock else (),
        )

    def _slot_request(self, call: StepCall, earliest: datetime | None = None) -> SlotRequest:
        lead = timedelta(days=float(call.params.get("lead_days", "2")))
        days = int(call.params.get("days", "14"))
        after = timedelta(days=float(call.params.get("return_days", "7")))
        start = max(earliest or _now() + lead, (call.window_start or _now()) - timedelta(days=60))
        latest = (
            call.window_end - timedelta(days=days) - after
            if call.window_end
            else start + timedelta(days=30)
        )
        return SlotRequest(
            key=f"{call.batch_id}:slot",
            batch_id=call.batch_id,
            earliest=start,
            latest=latest,
            days=days,
        )

    async def _legs(self, call: StepCall, req: SlotRequest) -> list[SlotLeg]:
        """The booking's slots: its own (the anchor) and its chain's legs (`chain` param)."""
        legs = [SlotLeg(key=req.key, site=call.site, lanes=1, days=req.days)]
        for lg in parse_chain(call.params["chain"]) if call.params.get("chain") else []:
            site = call.sites.get(lg.party)
            if site is None:
                # Intake refuses such an order; a batch started before the chain was added
                # gets a deviation for a person rather than a silent half chain.
                raise ApplicationError(
                    f"slot chain leg '{lg.name}': the order names no site for '{lg.party}'",
                    type="OrderIncomplete",
                    non_retryable=True,
                )
            legs.append(
                SlotLeg(
                    key=f"{req.key}:{lg.name}",
                    site=site,
                    lanes=1,
                    offset_days=lg.offset_days,
                    days=lg.days,
                )
            )
        return [lg.model_copy(update={"lanes": await self._site(lg.site)}) for lg in legs]

    @staticmethod
    def _window(call: StepCall, req: SlotRequest, legs: list[SlotLeg]) -> tuple[datetime, datetime]:
        """The anchor days that keep every leg after the earliest start and, with a treatment
        window, every leg inside it."""
        earliest = req.earliest + timedelta(days=max(0, -min(lg.offset_days for lg in legs)))
        latest = req.latest
        if call.window_end is not None and len(legs) > 1:
            reach = max(lg.offset_days + lg.days for lg in legs[1:])
            latest = min(latest, call.window_end - timedelta(days=reach))
        return earliest, latest

    @staticmethod
    def _placed(call: StepCall, legs: list[SlotLeg], slots: list[Slot]) -> dict[str, str]:
        anchor = slots[0]
        data = {
            "slot": f"{call.site}/lane{anchor.lane}",
            "slot_start": anchor.start.isoformat(),
            "slot_end": anchor.end.isoformat(),
        }
        for lg, slot in zip(legs[1:], slots[1:], strict=True):
            name = lg.key.rsplit(":", 1)[1]
            data[f"slot_{name}"] = f"{lg.site}/lane{slot.lane}"
            data[f"slot_{name}_start"] = slot.start.isoformat()
        return data

    async def book(self, call: StepCall) -> StepOutput:
        """Book a slot (and its chain's, all or none) inside the treatment window, after the
        collection lead time."""
        req = self._slot_request(call)
        legs = await self._legs(call, req)
        earliest, latest = self._window(call, req, legs)
        slots = await self._reserve(
            lambda: self._res.book_chain(legs, call.batch_id, earliest, latest)
        )
        return StepOutput(data=self._placed(call, legs, slots))

    async def release(self, call: StepCall) -> StepOutput:
        """Release the batch's slot and its chain's (compensation)."""
        await self._site(call.site)
        freed = await self._reserve(lambda: self._res.release(f"{call.batch_id}:slot"))
        return StepOutput(data={"released": str(freed)})

    async def move(self, call: StepCall) -> StepOutput:
        """Move the batch's slot, and its chain with it, after a rescheduled collection
        (`params['new_date']`)."""
        req = self._slot_request(call, earliest=datetime.fromisoformat(call.params["new_date"]))
        legs = await self._legs(call, req)
        earliest, latest = self._window(call, req, legs)
        slots = await self._reserve(
            lambda: self._res.move_chain(legs, call.batch_id, earliest, latest)
        )
        return StepOutput(data=self._placed(call, legs, slots))

    async def add_to_inventory(self, call: StepCall) -> StepOutput:
        """Release a lot's doses into its product's inventory (the lot id is the batch COI)."""
        inventory = call.params["inventory"]
        await self._product(inventory)
        shelf_life = call.params.get("shelf_life")
        lot = AddLot(
            key=f"{call.batch_id}:lot",
            lot_id=call.coi or call.batch_id,
            doses=int(call.params.get("doses", "1")),
            batch_id=call.batch_id,
            # Past it, allocation passes the lot's doses over (`Reservations.allocate`).
            expires=_now() + _DURATION.validate_python(shelf_life) if shelf_life else None,
        )
        ids = await self._reserve(lambda: self._res.add_lot(inventory, lot))
        return StepOutput(data={"doses_added": str(len(ids))})

    async def allocate(self, call: StepCall) -> StepOutput:
        """Allocate doses (count fixed, or from a recorded result) to this batch."""
        inventory = call.params["inventory"]
        await self._product(inventory)
        count_from = call.params.get("count_from")
        count = (
            int(float(call.results[count_from]))
            if count_from
            else int(call.params.get("count", "1"))
        )
        req = AllocateRequest(key=f"{call.batch_id}:dose", batch_id=call.batch_id, count=count)
        now = _now()
        alloc = await self._reserve(lambda: self._res.allocate(inventory, req, now))
        lots = sorted({d.rsplit("-D", 1)[0] for d in alloc.doses})
        return StepOutput(lots=lots, data={"doses": ",".join(alloc.doses)}, expires=alloc.expires)

    async def give_back(self, call: StepCall) -> StepOutput:
        """Return the batch's allocated doses to stock (compensation)."""
        inventory = call.params["inventory"]
        await self._product(inventory)
        back = await self._reserve(lambda: self._res.give_back(f"{call.batch_id}:dose"))
        return StepOutput(data={"returned": ",".join(back)})


def calculate_dose(call: StepCall) -> StepOutput:
    """Weight-based dose: `dose_per_kg` x weight, and the vials of `per_vial` it takes."""
    if call.weight_kg is None:
        raise ApplicationError(
            "the order has no body weight", type=BusinessError.NOT_ELIGIBLE, non_retryable=True
        )
    dose = float(call.params["dose_per_kg"]) * call.weight_kg
    vials = math.ceil(dose / float(call.params["per_vial"]))
    return StepOutput(
        results={
            "dose_vg": ResultValue(value=round(dose, 1), unit="vg", method="weight-based"),
            "vials_needed": ResultValue(value=float(vials), unit="vials", method="weight-based"),
        }
    )
