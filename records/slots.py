"""Slot bookings: lanes of a site held day by day, single slots and chains alike.

A single slot is a chain of one leg. A chain (`workflows.slots`) is several slots at several
sites placed relative to one anchor day: booked in one transaction, all or none, at the
earliest anchor day on which every leg finds a free lane; moved the same way (with no room in
the new window every leg stays where it was); released together. The database refuses a
lane-day held twice (`slot_days` primary key), whatever two workers race for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, delete, insert, or_, select, update

from records.reservation_store import (
    DayCapacity,
    NoCapacity,
    Store,
    first_midnight,
    lane_days,
    slot_bookings,
    slot_days,
)
from workflows.entities import CapacityState, Slot, SlotRequest


class SlotLeg(BaseModel):
    """One slot of a chain to place: its booking key, site and lanes, and where it falls."""

    model_config = ConfigDict(frozen=True)

    key: str
    site: str
    lanes: int = Field(ge=1)
    offset_days: int = 0
    days: int = Field(ge=1, le=90)


def _slot(row: object) -> Slot:
    return Slot(
        key=row.key,  # type: ignore[attr-defined]
        batch_id=row.batch_id,  # type: ignore[attr-defined]
        lane=row.lane,  # type: ignore[attr-defined]
        start=datetime.fromisoformat(row.start),  # type: ignore[attr-defined]
        end=datetime.fromisoformat(row.end),  # type: ignore[attr-defined]
    )


class Slots(Store):
    """Booking, moving and releasing slots and slot chains; the capacity views."""

    def _booking(self, conn: Connection, key: str) -> Slot | None:
        row = conn.execute(select(slot_bookings).where(slot_bookings.c.key == key)).first()
        return None if row is None else _slot(row)

    def _held(
        self, conn: Connection, site: str, first: datetime, last: datetime, own: set[str]
    ) -> set[tuple[int, str]]:
        """(lane, day) pairs of `site` held between `first` and `last` by other bookings."""
        rows = conn.execute(
            select(slot_days.c.lane, slot_days.c.day, slot_days.c.key).where(
                slot_days.c.site == site,
                slot_days.c.day >= first.date().isoformat(),
                slot_days.c.day <= last.date().isoformat(),
            )
        )
        return {(r.lane, r.day) for r in rows if r.key not in own}

    def _fit(
        self,
        conn: Connection,
        legs: Sequence[SlotLeg],
        batch_id: str,
        earliest: datetime,
        latest: datetime,
    ) -> list[Slot] | None:
        """Every leg's slot at the earliest anchor day in [earliest, latest], or None."""
        own = {lg.key for lg in legs}
        first = first_midnight(earliest)
        reach_back = min(lg.offset_days for lg in legs)
        reach = max(lg.offset_days + lg.days for lg in legs)
        held = {
            site: self._held(
                conn,
                site,
                first + timedelta(days=reach_back),
                latest + timedelta(days=reach),
                own,
            )
            for site in {lg.site for lg in legs}
        }
        day = first
        while day <= latest:
            placed: list[Slot] = []
            for lg in legs:
                start = day + timedelta(days=lg.offset_days)
                span = lane_days(start, lg.days)
                lane = next(
                    (
                        n
                        for n in range(1, lg.lanes + 1)
                        if not any((n, d) in held[lg.site] for d in span)
                    ),
                    None,
                )
                if lane is None:
                    break
                end = start + timedelta(days=lg.days)
                placed.append(Slot(key=lg.key, batch_id=batch_id, lane=lane, start=start, end=end))
                # Two legs of one chain at one site must not share a lane-day either.
                held[lg.site] = held[lg.site] | {(lane, d) for d in span}
            else:
                return placed
            day += timedelta(days=1)
        return None

    def _hold(self, conn: Connection, site: str, slot: Slot) -> None:
        conn.execute(
            insert(slot_days),
            [
                {"site": site, "lane": slot.lane, "day": d, "key": slot.key}
                for d in lane_days(slot.start, (slot.end - slot.start).days)
            ],
        )

    def _book(self, conn: Connection, site: str, slot: Slot) -> None:
        """Record a booking and hold its lane-days (the primary key refuses a taken day)."""
        conn.execute(
            insert(slot_bookings).values(
                key=slot.key,
                site=site,
                batch_id=slot.batch_id,
                lane=slot.lane,
                start=slot.start.isoformat(),
                end=slot.end.isoformat(),
            )
        )
        self._hold(conn, site, slot)

    @staticmethod
    def _no_room(legs: Sequence[SlotLeg], earliest: datetime, latest: datetime) -> NoCapacity:
        where = ", ".join(dict.fromkeys(lg.site for lg in legs))
        return NoCapacity(
            f"no slot at {where} between {earliest:%Y-%m-%d} and {latest:%Y-%m-%d}"
            + (f" for all {len(legs)} slots of the chain" if len(legs) > 1 else "")
        )

    def book_chain(
        self, legs: Sequence[SlotLeg], batch_id: str, earliest: datetime, latest: datetime
    ) -> list[Slot]:
        """Book every leg at the earliest anchor day that fits them all, or none (raises
        `NoCapacity`); the same keys return the same slots."""

        def work(conn: Connection) -> list[Slot]:
            existing = [self._booking(conn, lg.key) for lg in legs]
            if all(s is not None for s in existing):
                return [s for s in existing if s is not None]
            slots = self._fit(conn, legs, batch_id, earliest, latest)
            if slots is None:
                raise self._no_room(legs, earliest, latest)
            for lg, slot in zip(legs, slots, strict=True):
                self._book(conn, lg.site, slot)
            return slots

        return self._transact(work)

    def move_chain(
        self, legs: Sequence[SlotLeg], batch_id: str, earliest: datetime, latest: datetime
    ) -> list[Slot]:
        """Move every leg together to the earliest anchor day that fits them all; with none
        free every leg stays where it was and `NoCapacity` is raised."""

        def work(conn: Connection) -> list[Slot]:
            if self._booking(conn, legs[0].key) is None:
                raise NoCapacity(f"no booking {legs[0].key} to move")
            slots = self._fit(conn, legs, batch_id, earliest, latest)
            if slots is None:
                raise self._no_room(legs, earliest, latest)
            keys = [lg.key for lg in legs]
            conn.execute(delete(slot_days).where(slot_days.c.key.in_(keys)))
            for lg, slot in zip(legs, slots, strict=True):
                if self._booking(conn, lg.key) is None:
                    self._book(conn, lg.site, slot)
                    continue
                conn.execute(
                    update(slot_bookings)
                    .where(slot_bookings.c.key == lg.key)
                    .values(lane=slot.lane, start=slot.start.isoformat(), end=slot.end.isoformat())
                )
                self._hold(conn, lg.site, slot)
            return slots

        return self._transact(work)

    def book(self, site: str, lanes: int, req: SlotRequest) -> Slot:
        """Book the earliest free slot; the same key returns the same slot. Raises
        `NoCapacity` when no lane is free in the window."""
        leg = SlotLeg(key=req.key, site=site, lanes=lanes, days=req.days)
        return self.book_chain([leg], req.batch_id, req.earliest, req.latest)[0]

    def move(self, site: str, lanes: int, req: SlotRequest) -> Slot:
        """Move a booking to the earliest free slot in a new window; with none free the booking
        stays where it was and `NoCapacity` is raised."""
        leg = SlotLeg(key=req.key, site=site, lanes=lanes, days=req.days)
        return self.move_chain([leg], req.batch_id, req.earliest, req.latest)[0]

    def release(self, key: str) -> bool:
        """Free a booking and every leg of its chain (keys `key:<leg>`); releasing an unknown
        or released key is a no-op (idempotent)."""

        def work(conn: Connection) -> bool:
            chain = or_(slot_bookings.c.key == key, slot_bookings.c.key.like(f"{key}:%"))
            keys = [r.key for r in conn.execute(select(slot_bookings.c.key).where(chain))]
            conn.execute(delete(slot_days).where(slot_days.c.key.in_(keys)))
            return conn.execute(delete(slot_bookings).where(chain)).rowcount > 0

        return self._transact(work)

    def bookings(self, site: str) -> list[Slot]:
        """Every booking of a site, earliest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(slot_bookings)
                .where(slot_bookings.c.site == site)
                .order_by(slot_bookings.c.start, slot_bookings.c.lane)
            )
            return [_slot(r) for r in rows]

    def calendar(self, site: str, lanes: int) -> CapacityState:
        """A site's lanes and every booking on them, by key."""
        return CapacityState(
            site=site, lanes=lanes, bookings={s.key: s for s in self.bookings(site)}
        )

    def capacity(self, site: str, lanes: int, start: date, days: int) -> list[DayCapacity]:
        """Booked and free lanes of `site` on each of `days` days from `start`."""
        span = [start + timedelta(days=n) for n in range(days)]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(slot_days.c.day, slot_days.c.lane, slot_bookings.c.batch_id)
                .join(slot_bookings, slot_bookings.c.key == slot_days.c.key)
                .where(
                    slot_days.c.site == site,
                    slot_days.c.day >= span[0].isoformat(),
                    slot_days.c.day <= span[-1].isoformat(),
                )
            ).all()
        held: dict[str, dict[int, str]] = {}
        for r in rows:
            held.setdefault(r.day, {})[r.lane] = r.batch_id
        return [
            DayCapacity(site=site, day=d, lanes=lanes, booked=held.get(d.isoformat(), {}))
            for d in span
        ]
