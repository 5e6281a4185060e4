"""Slots and doses shared by many batches, reserved in the records database.

Why a table and not a Temporal workflow per site: every booking of a site used to go through
one calendar workflow, whose updates Temporal applies one workflow task at a time, at most 10
in flight. A burst of 100 bookings made its tasks take 16-20 s against their 10 s limit and the
updates were refused, so batches were held for a *technical* failure where the answer was
simply "booked" or "no capacity". Here a reservation is one short database transaction:

- the database refuses an overbooking by itself: a lane-day (`slot_days`) and a dose
  (`inventory_doses.allocation_key`) can be held by one reservation only (unique constraint,
  conditional update), so two workers racing for the last lane cannot both win;
- a retried activity gets the same answer: every reservation is keyed by its idempotency key
  (primary key), and asking again returns what was reserved;
- contention is a lock wait or a retried transaction, never an error the batch sees.

SQLite (default) and PostgreSQL (production) run the same statements.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from records.genealogy import record_origin
from records.reservation_store import (
    DayCapacity,
    NoCapacity,
    OutOfStock,
    Raced,
    inventory_allocations,
    inventory_doses,
    inventory_lots,
    reservation_imports,
)
from records.slots import Slots
from workflows.entities import (
    AddLot,
    AllocateRequest,
    Allocation,
    InventoryState,
    Slot,
)

__all__ = ["DayCapacity", "NoCapacity", "OutOfStock", "Reservations"]


class Reservations(Slots):
    """Slot bookings per site (`records.slots`) and dose allocations per product, in the
    records database."""

    # Doses ---------------------------------------------------------------------------------

    def add_lot(self, product: str, lot: AddLot) -> list[str]:
        """Put a released lot's doses into stock (once per key); returns the dose ids. The
        batch that made it (`lot.batch_id`) is recorded as its origin in the same transaction,
        so no lot is in stock without it."""
        ids = [f"{lot.lot_id}-D{n:03d}" for n in range(1, lot.doses + 1)]
        expires = lot.expires.astimezone(UTC).isoformat() if lot.expires else None
        made_at = datetime.now(UTC)

        def work(conn: Connection) -> list[str]:
            if lot.batch_id is not None:
                record_origin(conn, lot.lot_id, lot.batch_id, product, made_at)
            known = conn.execute(
                select(inventory_lots.c.key).where(inventory_lots.c.key == lot.key)
            ).first()
            if known is not None:
                return ids
            conn.execute(
                insert(inventory_lots).values(key=lot.key, product=product, lot_id=lot.lot_id)
            )
            last = conn.execute(
                select(inventory_doses.c.position)
                .where(inventory_doses.c.product == product)
                .order_by(inventory_doses.c.position.desc())
                .limit(1)
            ).scalar()
            base = (last or 0) + 1
            conn.execute(
                insert(inventory_doses),
                [
                    {
                        "dose_id": dose,
                        "product": product,
                        "lot_id": lot.lot_id,
                        "position": base + n,
                        "expires": expires,
                    }
                    for n, dose in enumerate(ids)
                ],
            )
            return ids

        return self._transact(work)

    def _available(
        self, conn: Connection, product: str, now: datetime, key: str | None = None
    ) -> list[str]:
        """Unexpired doses of `product` free at `now`, oldest first. Doses already held under
        `key` count as free: a retry that looked up its key just before its first try committed
        must not be refused for the doses it holds (it then loses the race and reads again)."""
        usable = and_(
            inventory_doses.c.product == product,
            or_(
                inventory_doses.c.allocation_key.is_(None),
                inventory_doses.c.allocation_key == key,
            ),
        )
        rows = conn.execute(
            select(inventory_doses.c.dose_id, inventory_doses.c.expires)
            .where(usable)
            .order_by(inventory_doses.c.position)
        )
        at = now.astimezone(UTC).isoformat()
        return [r.dose_id for r in rows if r.expires is None or r.expires >= at]

    def _expired(self, conn: Connection, product: str, now: datetime) -> int:
        """How many unallocated doses of `product` are past their lot's shelf life at `now`."""
        at = now.astimezone(UTC).isoformat()
        rows = conn.execute(
            select(inventory_doses.c.dose_id).where(
                inventory_doses.c.product == product,
                inventory_doses.c.allocation_key.is_(None),
                inventory_doses.c.expires.is_not(None),
                inventory_doses.c.expires < at,
            )
        )
        return len(rows.all())

    def _expiry(self, conn: Connection, doses: list[str]) -> datetime | None:
        """The earliest shelf-life end among `doses`, or None when none has one."""
        rows = conn.execute(
            select(inventory_doses.c.expires).where(
                inventory_doses.c.dose_id.in_(doses), inventory_doses.c.expires.is_not(None)
            )
        )
        ends = [datetime.fromisoformat(r.expires) for r in rows]
        return min(ends) if ends else None

    def allocate(self, product: str, req: AllocateRequest, now: datetime) -> Allocation:
        """Allocate the oldest usable doses to a batch; the same key returns the same doses.
        Raises `OutOfStock` when too few are usable at `now`."""

        def work(conn: Connection) -> Allocation:
            row = conn.execute(
                select(inventory_allocations).where(inventory_allocations.c.key == req.key)
            ).first()
            if row is not None:
                kept = row.doses.split(",")
                return Allocation(
                    key=row.key,
                    batch_id=row.batch_id,
                    doses=kept,
                    expires=self._expiry(conn, kept),
                )
            available = self._available(conn, product, now, req.key)
            if len(available) < req.count:
                expired = self._expired(conn, product, now)
                past = f" ({expired} past their shelf life)" if expired else ""
                raise OutOfStock(
                    f"{product}: {len(available)} dose(s) available, {req.count} needed{past}"
                )
            doses = available[: req.count]
            taken = conn.execute(
                update(inventory_doses)
                .where(
                    inventory_doses.c.dose_id.in_(doses),
                    inventory_doses.c.allocation_key.is_(None),
                )
                .values(allocation_key=req.key)
            ).rowcount
            if taken != len(doses):  # another allocation took one first: read again
                raise Raced(product)
            conn.execute(
                insert(inventory_allocations).values(
                    key=req.key, product=product, batch_id=req.batch_id, doses=",".join(doses)
                )
            )
            return Allocation(
                key=req.key,
                batch_id=req.batch_id,
                doses=doses,
                expires=self._expiry(conn, doses),
            )

        return self._transact(work)

    def give_back(self, key: str) -> list[str]:
        """Return an allocation's doses to stock (idempotent)."""

        def work(conn: Connection) -> list[str]:
            row = conn.execute(
                select(inventory_allocations.c.doses).where(inventory_allocations.c.key == key)
            ).first()
            if row is None:
                return []
            conn.execute(
                update(inventory_doses)
                .where(inventory_doses.c.allocation_key == key)
                .values(allocation_key=None)
            )
            conn.execute(delete(inventory_allocations).where(inventory_allocations.c.key == key))
            return list(row.doses.split(","))

        return self._transact(work)

    def withhold(self, lots: Iterable[str], key: str) -> list[str]:
        """Take every unallocated dose of `lots` out of allocation under `key` (a recall);
        returns the doses withheld now (none on a repeat)."""
        wanted = list(lots)

        def work(conn: Connection) -> list[str]:
            free = and_(
                inventory_doses.c.lot_id.in_(wanted), inventory_doses.c.allocation_key.is_(None)
            )
            doses = list(conn.scalars(select(inventory_doses.c.dose_id).where(free)))
            conn.execute(update(inventory_doses).where(free).values(allocation_key=key))
            return doses

        return self._transact(work)

    def stock(self, product: str, now: datetime) -> InventoryState:
        """Usable unallocated doses (first out first) and the allocations, of one product."""
        with self.engine.connect() as conn:
            available = self._available(conn, product, now)
            rows = conn.execute(
                select(inventory_allocations).where(inventory_allocations.c.product == product)
            )
            allocations = {
                r.key: Allocation(key=r.key, batch_id=r.batch_id, doses=r.doses.split(","))
                for r in rows
            }
        return InventoryState(product=product, available=available, allocations=allocations)

    # Carried over from the entity workflows of earlier versions ------------------------------

    def imported(self, name: str) -> bool:
        """Whether the state of the earlier version's entity `name` was carried over."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(reservation_imports.c.name).where(reservation_imports.c.name == name)
            ).first()
        return found is not None

    def carry_over(
        self,
        name: str,
        *,
        site: str = "",
        slots: Iterable[Slot] = (),
        product: str = "",
        lots: Iterable[str] = (),
        available: Iterable[str] = (),
        allocations: Iterable[Allocation] = (),
    ) -> None:
        """Carry the state of an earlier version's calendar or inventory workflow over, once
        (`name` marks it done): its bookings, the keys of the lots it took in, its
        unallocated doses and its allocations."""

        def work(conn: Connection) -> None:
            if conn.execute(
                select(reservation_imports.c.name).where(reservation_imports.c.name == name)
            ).first():
                return
            for slot in slots:
                self._book(conn, site, slot)
            doses = [(d, None) for d in available] + [
                (d, a.key) for a in allocations for d in a.doses
            ]
            if doses:
                conn.execute(
                    insert(inventory_doses),
                    [
                        {
                            "dose_id": d,
                            "product": product,
                            "lot_id": d.rsplit("-D", 1)[0],
                            "position": n,
                            "allocation_key": key,
                        }
                        for n, (d, key) in enumerate(doses, start=1)
                    ],
                )
            for key in lots:
                conn.execute(insert(inventory_lots).values(key=key, product=product, lot_id=""))
            for a in allocations:
                conn.execute(
                    insert(inventory_allocations).values(
                        key=a.key, product=product, batch_id=a.batch_id, doses=",".join(a.doses)
                    )
                )
            conn.execute(insert(reservation_imports).values(name=name))

        self._transact(work)
