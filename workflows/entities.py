"""Durable entities shared by many batches: a site's slot calendar and a product's inventory.

Each is one long-running workflow (`capacity-<site>`, `inventory-<product>`) whose state changes
only through updates, which Temporal applies one at a time: two batches can never book the same
lane or allocate the same dose. Both continue as new when Temporal suggests it, carrying their
state, so their history stays bounded however long the site or product lives.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow

CAPACITY_WORKFLOW = "vein2vein-site-capacity"
INVENTORY_WORKFLOW = "vein2vein-inventory"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlotRequest(_Model):
    """Book (or move) a manufacturing slot of `days` starting within [earliest, latest]."""

    key: str
    batch_id: str
    earliest: datetime
    latest: datetime
    days: int = Field(ge=1, le=90)


class Slot(_Model):
    """A booked slot on one manufacturing lane."""

    key: str
    batch_id: str
    lane: int
    start: datetime
    end: datetime


class CapacityState(_Model):
    """A site's slot calendar: how many lanes it runs, and what is booked on them."""

    site: str
    lanes: int = Field(default=4, ge=1)
    bookings: dict[str, Slot] = Field(default_factory=dict)


def _day(t: datetime) -> datetime:
    start = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return start if start == t else start + timedelta(days=1)


@workflow.defn(name=CAPACITY_WORKFLOW)
class SiteCapacity:
    """One site's manufacturing slot calendar."""

    @workflow.init
    def __init__(self, state: CapacityState) -> None:
        self._state = state

    @workflow.run
    async def run(self, state: CapacityState) -> None:
        """Live until Temporal suggests a fresh history, then continue with the same state."""
        await workflow.wait_condition(
            lambda: (
                workflow.info().is_continue_as_new_suggested() and workflow.all_handlers_finished()
            )
        )
        workflow.continue_as_new(self._state)

    def _first_free(self, req: SlotRequest, ignore: str | None = None) -> Slot | None:
        day = _day(req.earliest)
        while day <= req.latest:
            end = day + timedelta(days=req.days)
            busy = {
                s.lane
                for k, s in self._state.bookings.items()
                if k != ignore and s.start < end and day < s.end
            }
            free = [lane for lane in range(1, self._state.lanes + 1) if lane not in busy]
            if free:
                return Slot(key=req.key, batch_id=req.batch_id, lane=free[0], start=day, end=end)
            day += timedelta(days=1)
        return None

    @workflow.update
    def book(self, req: SlotRequest) -> Slot:
        """Book the earliest free slot; the same key returns the same slot."""
        existing = self._state.bookings.get(req.key)
        if existing is not None:
            return existing
        slot = self._first_free(req)
        assert slot is not None  # the validator refused the request otherwise
        self._state.bookings[req.key] = slot
        return slot

    @book.validator
    def _check_book(self, req: SlotRequest) -> None:
        if req.key not in self._state.bookings and self._first_free(req) is None:
            raise ValueError(
                f"no slot at {self._state.site} between {req.earliest:%Y-%m-%d} "
                f"and {req.latest:%Y-%m-%d}"
            )

    @workflow.update
    def move(self, req: SlotRequest) -> Slot:
        """Move a booking to the earliest free slot in a new window (keeps it if none)."""
        slot = self._first_free(req, ignore=req.key)
        assert slot is not None
        self._state.bookings[req.key] = slot
        return slot

    @move.validator
    def _check_move(self, req: SlotRequest) -> None:
        if req.key not in self._state.bookings:
            raise ValueError(f"no booking {req.key} to move")
        if self._first_free(req, ignore=req.key) is None:
            raise ValueError(f"no slot at {self._state.site} in the new window")

    @workflow.update
    def release(self, key: str) -> bool:
        """Free a booking; releasing an unknown or released key is a no-op (idempotent)."""
        return self._state.bookings.pop(key, None) is not None

    @workflow.query
    def calendar(self) -> CapacityState:
        """Every booking."""
        return self._state


class AddLot(_Model):
    """Released doses (or vials) of one lot entering inventory."""

    key: str
    lot_id: str
    doses: int = Field(ge=1, le=10_000)
    expires: datetime | None = None
    #: The batch that made the lot (genealogy: lots made from lots); None in older versions.
    batch_id: str | None = None


class Allocation(_Model):
    """Doses allocated to one batch under one idempotency key."""

    key: str
    batch_id: str
    doses: list[str]
    #: The earliest shelf-life end among the doses (None: no shelf life declared).
    expires: datetime | None = None


class AllocateRequest(_Model):
    """Allocate `count` doses to a batch."""

    key: str
    batch_id: str
    count: int = Field(default=1, ge=1, le=100)


class InventoryState(_Model):
    """A product's released, unallocated doses and its allocations."""

    product: str
    available: list[str] = Field(default_factory=list)
    allocations: dict[str, Allocation] = Field(default_factory=dict)
    lots_added: list[str] = Field(default_factory=list)
    expiry: dict[str, datetime] = Field(default_factory=dict)


@workflow.defn(name=INVENTORY_WORKFLOW)
class Inventory:
    """One product's dose inventory; allocation is first in, first out."""

    @workflow.init
    def __init__(self, state: InventoryState) -> None:
        self._state = state

    @workflow.run
    async def run(self, state: InventoryState) -> None:
        """Live until Temporal suggests a fresh history, then continue with the same state."""
        await workflow.wait_condition(
            lambda: (
                workflow.info().is_continue_as_new_suggested() and workflow.all_handlers_finished()
            )
        )
        workflow.continue_as_new(self._state)

    @workflow.update
    def add_lot(self, lot: AddLot) -> list[str]:
        """Put a released lot's doses into stock (once per key)."""
        ids = [f"{lot.lot_id}-D{n:03d}" for n in range(1, lot.doses + 1)]
        if lot.key not in self._state.lots_added:
            self._state.lots_added.append(lot.key)
            self._state.available.extend(ids)
            if lot.expires is not None:
                self._state.expiry.update(dict.fromkeys(ids, lot.expires))
        return ids

    def _usable(self) -> list[str]:
        now = workflow.now()
        return [d for d in self._state.available if self._state.expiry.get(d, now) >= now]

    @workflow.update
    def allocate(self, req: AllocateRequest) -> Allocation:
        """Allocate doses to a batch; the same key returns the same doses."""
        existing = self._state.allocations.get(req.key)
        if existing is not None:
            return existing
        doses = self._usable()[: req.count]
        for d in doses:
            self._state.available.remove(d)
        alloc = Allocation(key=req.key, batch_id=req.batch_id, doses=doses)
        self._state.allocations[req.key] = alloc
        return alloc

    @allocate.validator
    def _check_allocate(self, req: AllocateRequest) -> None:
        if req.key not in self._state.allocations and len(self._usable()) < req.count:
            raise ValueError(
                f"{self._state.product}: {len(self._usable())} dose(s) available, "
                f"{req.count} needed"
            )

    @workflow.update
    def give_back(self, key: str) -> list[str]:
        """Return an allocation's doses to stock (idempotent)."""
        alloc = self._state.allocations.pop(key, None)
        if alloc is None:
            return []
        self._state.available[:0] = alloc.doses
        return alloc.doses

    @workflow.query
    def stock(self) -> InventoryState:
        """Available doses and allocations."""
        return self._state
