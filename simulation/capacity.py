"""Manufacturing slots and dose inventory, with the records database's rules.

The durable engine books a slot as lane-days in a calendar (`records.slots`), days ahead of
the work, all legs of a chain or none, at the earliest midnight on or after the collection
lead time with a free lane on every day, within 30 days (or inside the treatment window);
otherwise the booking is refused (no capacity, a deviation). A slot is not a FIFO queue, so
the simulator keeps the same calendar rather than a `simpy.Resource`: the wait for a lane is
how far the slot lies past the earliest day the rule allows. Doses are taken oldest first;
too few is a refusal (out of stock), as in `records.reservations`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from workflows.slots import parse_chain

DAY_H = 24.0
#: Lanes of a site the scenario does not size (the activities' `DEFAULT_LANES`).
DEFAULT_LANES = 4


class NoCapacity(Exception):
    """No lane is free for the whole slot (and chain) in the window."""


class OutOfStock(Exception):
    """Too few doses in the inventory."""


@dataclass
class Leg:
    """One slot of a booking: where, how many lanes the site has, offset and length in days."""

    site: str
    lanes: int
    offset_days: int
    days: int


@dataclass
class Booking:
    """A placed slot: its site, lane and first day, and how many days it holds."""

    site: str
    lane: int
    first_day: int
    days: int


def first_midnight_day(hours: float) -> int:
    """The day index of the first midnight at or after `hours` (`first_midnight`)."""
    return math.ceil(hours / DAY_H - 1e-9)


@dataclass
class SlotCalendar:
    """Every site's lane-days, held by batch (records' `slot_days`, in memory)."""

    lanes: Mapping[str, int]
    held: dict[str, dict[int, int]] = field(default_factory=dict)
    bookings: dict[str, list[Booking]] = field(default_factory=dict)
    #: Every booking ever made (kept for utilisation after release), by site.
    history: dict[str, list[Booking]] = field(default_factory=dict)

    def lanes_of(self, site: str) -> int:
        """The site's lane count."""
        return self.lanes.get(site, DEFAULT_LANES)

    def legs(self, site: str, params: Mapping[str, str], sites: Mapping[str, str]) -> list[Leg]:
        """The booking's slots: its own and its chain's (the `chain` parameter)."""
        days = int(params.get("days", "14"))
        legs = [Leg(site, self.lanes_of(site), 0, days)]
        for lg in parse_chain(params["chain"]) if params.get("chain") else []:
            where = sites.get(lg.party)
            if where is None:
                raise NoCapacity(f"slot chain leg '{lg.name}': the order names no site")
            legs.append(Leg(where, self.lanes_of(where), lg.offset_days, lg.days))
        return legs

    def window(
        self,
        now_h: float,
        params: Mapping[str, str],
        legs: list[Leg],
        window_start_h: float | None,
        window_end_h: float | None,
    ) -> tuple[float, float]:
        """Earliest and latest anchor instants in hours (`EntityActivities._slot_request`
        and `_window`)."""
        lead = float(params.get("lead_days", "2")) * DAY_H
        days = int(params.get("days", "14"))
        after = float(params.get("return_days", "7")) * DAY_H
        start = max(
            now_h + lead, (now_h if window_start_h is None else window_start_h) - 60 * DAY_H
        )
        latest = (
            window_end_h - days * DAY_H - after if window_end_h is not None else start + 30 * DAY_H
        )
        earliest = start + DAY_H * max(0, -min(lg.offset_days for lg in legs))
        if window_end_h is not None and len(legs) > 1:
            reach = max(lg.offset_days + lg.days for lg in legs[1:])
            latest = min(latest, window_end_h - reach * DAY_H)
        return earliest, latest

    def book(self, batch: str, legs: list[Leg], earliest_h: float, latest_h: float) -> int:
        """Hold every leg at the earliest anchor day that fits them all; the anchor day."""
        day = first_midnight_day(earliest_h)
        while day * DAY_H <= latest_h:
            placed = self._fit(legs, day)
            if placed is not None:
                for b in placed:
                    held = self.held.setdefault(b.site, {})
                    for d in range(b.first_day, b.first_day + b.days):
                        held[d] = held.get(d, 0) | (1 << b.lane)
                self.bookings[batch] = placed
                for b in placed:
                    self.history.setdefault(b.site, []).append(b)
                return day
            day += 1
        where = ", ".join(dict.fromkeys(lg.site for lg in legs))
        raise NoCapacity(f"no slot at {where} in the window")

    def _fit(self, legs: list[Leg], day: int) -> list[Booking] | None:
        placed: list[Booking] = []
        extra: dict[str, dict[int, int]] = {}
        for lg in legs:
            held = self.held.get(lg.site, {})
            mine = extra.setdefault(lg.site, {})
            first = day + lg.offset_days
            taken = 0
            for d in range(first, first + lg.days):
                taken |= held.get(d, 0) | mine.get(d, 0)
            # Lanes are bits 1..lanes; the lowest free one, as records' first free lane.
            free = ~taken & ((1 << (lg.lanes + 1)) - 2)
            if not free:
                return None
            lane = (free & -free).bit_length() - 1
            for d in range(first, first + lg.days):
                mine[d] = mine.get(d, 0) | (1 << lane)
            placed.append(Booking(lg.site, lane, first, lg.days))
        return placed

    def release(self, batch: str, now_h: float) -> None:
        """Free the batch's lane-days from today on (what was used stays in the history)."""
        today = int(now_h // DAY_H)
        for b in self.bookings.pop(batch, []):
            held = self.held.get(b.site, {})
            for d in range(max(b.first_day, today), b.first_day + b.days):
                held[d] = held.get(d, 0) & ~(1 << b.lane)
            if today < b.first_day + b.days:
                b.days = max(0, today - b.first_day)

    def booked_days(self, site: str, first_day: int, last_day: int) -> int:
        """Lane-days of `site` held in [first_day, last_day)."""
        return sum(
            max(0, min(b.first_day + b.days, last_day) - max(b.first_day, first_day))
            for b in self.history.get(site, [])
        )


@dataclass
class Inventory:
    """Released doses of every inventory, oldest lot first (records' inventory rule)."""

    stock: dict[str, deque[str]] = field(default_factory=dict)
    allocations: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    def add(self, inventory: str, lot: str, doses: int) -> None:
        """Release a lot's doses into the inventory."""
        self.stock.setdefault(inventory, deque()).extend([lot] * doses)

    def allocate(self, inventory: str, batch: str, count: int) -> list[str]:
        """Take `count` doses (the lots they come from); `OutOfStock` when too few."""
        available = self.stock.setdefault(inventory, deque())
        if len(available) < count:
            raise OutOfStock(f"{inventory}: {len(available)} dose(s) available, {count} needed")
        taken = [available.popleft() for _ in range(count)]
        self.allocations[batch] = (inventory, taken)
        return sorted(set(taken))

    def give_back(self, batch: str) -> None:
        """Return the batch's doses (compensation)."""
        inventory, taken = self.allocations.pop(batch, ("", []))
        if taken:
            self.stock.setdefault(inventory, deque()).extendleft(reversed(taken))

    def available(self, inventory: str) -> int:
        """Doses in stock now."""
        return len(self.stock.get(inventory, ()))
