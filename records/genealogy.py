"""Lot genealogy across levels: lots made from lots (vector -> drug substance -> vials or doses)
and every batch each of them reached.

Two append-only tables hold it: `lot_usage` (a batch consumed a lot: the `lot.consumed` audit
events) and `lot_origins` (a batch made a lot: written in the same transaction that puts the
lot's doses into inventory, so a lot in stock always has its origin). Following both from a lot
reaches every batch made with it at any depth, which is what a recall must reach.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, insert, select

from records._schema import lot_origins, lot_usage

__all__ = ["Genealogy", "LotOrigin", "LotOriginConflict", "LotUse", "record_origin"]


class LotUse(BaseModel):
    """One batch that consumed a material lot (lot genealogy, for recalls)."""

    model_config = ConfigDict(frozen=True)

    lot: str = Field(description="The lot the batch itself consumed")
    batch_id: str
    coi: str | None = None
    step: str | None = None
    at: datetime
    path: tuple[str, ...] = Field(
        default=(),
        description="From the lot asked about down to `lot`: how it reached this batch",
    )
    made: tuple[str, ...] = Field(default=(), description="Lots this batch made, if any")


class LotOrigin(BaseModel):
    """The batch that made a lot."""

    model_config = ConfigDict(frozen=True)

    lot: str
    batch_id: str
    product: str
    at: datetime


class LotOriginConflict(ValueError):
    """A lot id already recorded as made by another batch: two lots would share one name."""


def record_origin(conn: Connection, lot: str, batch_id: str, product: str, at: datetime) -> None:
    """Record, in the caller's transaction, that `batch_id` made `lot` (idempotent).

    Raises `LotOriginConflict` when another batch already made a lot of that id."""
    known = conn.execute(select(lot_origins.c.batch_id).where(lot_origins.c.lot == lot)).first()
    if known is not None:
        if known.batch_id != batch_id:
            raise LotOriginConflict(f"lot {lot} was made by {known.batch_id}, not {batch_id}")
        return
    conn.execute(
        insert(lot_origins).values(lot=lot, batch_id=batch_id, product=product, at=at.isoformat())
    )


class Genealogy:
    """Where a lot went, across every level, read from the records database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def origin(self, lot: str) -> LotOrigin | None:
        """The batch that made `lot`, or None (a bought material, or not made here)."""
        with self._engine.connect() as conn:
            row = conn.execute(select(lot_origins).where(lot_origins.c.lot == lot)).first()
        return None if row is None else LotOrigin.model_validate(dict(row._mapping))

    def where_used(self, lot: str) -> list[LotUse]:
        """Every batch that consumed `lot` or a lot made from it, at any depth, breadth first
        (direct users first, oldest first within a level); each names the path it came by
        and the lots it made. A batch reached by two paths is listed once, by the shorter."""
        found: list[LotUse] = []
        listed: set[str] = set()
        seen = {lot}
        frontier: list[tuple[str, ...]] = [(lot,)]
        with self._engine.connect() as conn:
            while frontier:
                level, frontier = frontier, []
                for path in level:
                    for use in _direct_uses(conn, path[-1]):
                        made = _made_by(conn, use.batch_id)
                        if use.batch_id not in listed:
                            listed.add(use.batch_id)
                            found.append(use.model_copy(update={"path": path, "made": made}))
                        for child in made:
                            if child not in seen:  # a cycle would be a data error: stop there
                                seen.add(child)
                                frontier.append((*path, child))
        return found

    def affected_lots(self, lot: str) -> list[str]:
        """`lot` and every lot made from it, at any depth: the stock a recall withholds."""
        lots = [lot]
        for use in self.where_used(lot):
            lots += [m for m in use.made if m not in lots]
        return lots


def _direct_uses(conn: Connection, lot: str) -> list[LotUse]:
    rows = conn.execute(
        select(lot_usage)
        .where(lot_usage.c.lot == lot)
        .order_by(lot_usage.c.at, lot_usage.c.batch_id)
    )
    return [LotUse.model_validate(dict(row._mapping)) for row in rows]


def _made_by(conn: Connection, batch_id: str) -> tuple[str, ...]:
    rows = conn.execute(
        select(lot_origins.c.lot)
        .where(lot_origins.c.batch_id == batch_id)
        .order_by(lot_origins.c.lot)
    )
    return tuple(str(r) for r in rows.scalars())
