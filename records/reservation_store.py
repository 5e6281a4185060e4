"""The tables and transactions behind `records.reservations` (see its docstring for why
reservations live in the records database and how the database refuses an overbooking)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from records._schema import lot_origins
from records.database import write_transaction

T = TypeVar("T")

metadata = MetaData()

slot_bookings = Table(
    "slot_bookings",
    metadata,
    Column("key", Text, primary_key=True),
    Column("site", Text, nullable=False, index=True),
    Column("batch_id", Text, nullable=False),
    Column("lane", Integer, nullable=False),
    Column("start", Text, nullable=False),  # ISO 8601, midnight UTC
    Column("end", Text, nullable=False),
)

# One row per lane per day a booking holds: the primary key is what forbids an overbooking.
slot_days = Table(
    "slot_days",
    metadata,
    Column("site", Text, nullable=False),
    Column("lane", Integer, nullable=False),
    Column("day", Text, nullable=False),  # YYYY-MM-DD
    Column("key", Text, nullable=False, index=True),
    PrimaryKeyConstraint("site", "lane", "day", name="pk_slot_days"),
)

inventory_lots = Table(
    "inventory_lots",
    metadata,
    Column("key", Text, primary_key=True),
    Column("product", Text, nullable=False),
    Column("lot_id", Text, nullable=False),
)

inventory_doses = Table(
    "inventory_doses",
    metadata,
    Column("dose_id", Text, primary_key=True),
    Column("product", Text, nullable=False, index=True),
    Column("lot_id", Text, nullable=False),
    Column("position", Integer, nullable=False),  # first in, first out
    Column("expires", Text, nullable=True),
    Column("allocation_key", Text, nullable=True, index=True),
)

inventory_allocations = Table(
    "inventory_allocations",
    metadata,
    Column("key", Text, primary_key=True),
    Column("product", Text, nullable=False),
    Column("batch_id", Text, nullable=False),
    Column("doses", Text, nullable=False),  # comma-separated dose ids
)

reservation_imports = Table(
    "reservation_imports",
    metadata,
    Column("name", Text, primary_key=True),  # "capacity-<site>", "inventory-<product>"
)

#: How often a reservation that lost a race (or a lock) is tried again before giving up.
ATTEMPTS = 50


class Raced(Exception):
    """Another reservation changed what this one read: read again."""


class NoCapacity(Exception):
    """No lane is free for the request: a business outcome, not a failure."""


class OutOfStock(Exception):
    """Too few usable doses for the request: a business outcome, not a failure."""


class DayCapacity(BaseModel):
    """One site's lanes on one day: who holds them and how many are free."""

    model_config = ConfigDict(frozen=True)

    site: str
    day: date
    lanes: int
    booked: dict[int, str]  # lane -> batch id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def free(self) -> int:
        """Lanes nobody holds that day."""
        return self.lanes - len(self.booked)


def lane_days(start: datetime, days: int) -> list[str]:
    """The days (YYYY-MM-DD) a slot of `days` days from `start` holds."""
    return [(start + timedelta(days=n)).date().isoformat() for n in range(days)]


def first_midnight(t: datetime) -> datetime:
    """Slots start at midnight: the first midnight at or after `t`."""
    start = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return start if start == t else start + timedelta(days=1)


class Store:
    """An engine on the records database and the one way a reservation transacts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_schema(self) -> None:
        """Create the tables (idempotent)."""
        with self.engine.begin() as conn:
            metadata.create_all(conn, checkfirst=True)
            # Lot origins belong to the ledger's append-only tables; a lot entering stock
            # records its origin in the same transaction, so the table must be there.
            lot_origins.create(conn, checkfirst=True)

    def _transact(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction; a lost race (unique constraint) or a busy lock runs
        it again with fresh reads. Business refusals pass straight through."""
        for attempt in range(ATTEMPTS):
            try:
                with write_transaction(self.engine) as conn:
                    return work(conn)
            except (IntegrityError, OperationalError, Raced):
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")
