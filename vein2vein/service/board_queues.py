"""The console's work queues beside the board: open deviations for QA, oldest first, and each
manufacturing site's booked and free lanes per day (the same query as `vein2vein capacity`
and `GET /api/capacity/{site}`: `records.reservations.Reservations.capacity`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from activities.adapters import Site
from records.reservations import Reservations
from vein2vein.readable import duration
from workflows.authority import deviation_authority
from workflows.model import BatchRecord, Role
from workflows.vocabulary import PartyKind


class DeviationRow(BaseModel):
    """One open deviation in the QA queue."""

    model_config = ConfigDict(frozen=True)

    deviation_id: str
    batch_id: str
    product: str
    kind: str
    step: str
    description: str
    opened_at: datetime
    age: str
    blocking: bool
    may_dispose: str
    mine: bool


def deviation_queue(
    recs: Iterable[BatchRecord], now: datetime, roles: Iterable[Role]
) -> list[DeviationRow]:
    """Every open deviation of `recs` and every one accepted on conditions not yet confirmed
    met, oldest first; `mine` where a holder of `roles` may
    dispose of it (`workflows.authority.deviation_authority`, the one rule)."""
    held = tuple(roles)
    rows = []
    for rec in recs:
        for d in [*rec.open_deviations(), *rec.unmet_conditions()]:
            auth = deviation_authority(d)
            rows.append(
                DeviationRow(
                    deviation_id=d.deviation_id,
                    batch_id=rec.batch_id,
                    product=rec.product,
                    kind=d.kind.value,
                    step=d.step,
                    description=d.description
                    if d.is_open
                    else f"accepted on conditions, to confirm met: {d.conditions}",
                    opened_at=d.opened_at,
                    age=duration(now - d.opened_at),
                    blocking=d.blocking,
                    may_dispose=", ".join(r.value for r in auth.roles),
                    mine=bool(auth.roles_of(held)),
                )
            )
    return sorted(rows, key=lambda r: (r.opened_at.timestamp(), r.batch_id, r.deviation_id))


class LaneDay(BaseModel):
    """One day of one site: lanes booked (lane -> batch) and free."""

    model_config = ConfigDict(frozen=True)

    day: date
    booked: list[tuple[int, str]]
    free: int
    lanes: int

    @property
    def load(self) -> str:
        """How full the day is, for colouring: 'full', 'busy' (half or more) or 'open'."""
        if self.free <= 0:
            return "full"
        return "busy" if len(self.booked) * 2 >= self.lanes else "open"


class SiteCapacity(BaseModel):
    """A manufacturing site's lanes over the days shown."""

    model_config = ConfigDict(frozen=True)

    site_id: str
    name: str
    time_zone: str
    lanes: int
    days: list[LaneDay]


def manufacturing_sites(sites: Iterable[Site]) -> list[Site]:
    """The sites whose lanes slots book, by id."""
    return sorted(
        (s for s in sites if s.kind == PartyKind.MANUFACTURING_SITE), key=lambda s: s.site_id
    )


def site_capacity(
    engine: Engine, sites: Iterable[Site], first: date, days: int
) -> list[SiteCapacity]:
    """Each site's booked and free lanes for `days` days from `first`."""
    store = Reservations(engine)
    return [
        SiteCapacity(
            site_id=s.site_id,
            name=s.name,
            time_zone=s.time_zone,
            lanes=s.lanes,
            days=[
                LaneDay(day=d.day, booked=sorted(d.booked.items()), free=d.free, lanes=d.lanes)
                for d in store.capacity(s.site_id, s.lanes, first, days)
            ],
        )
        for s in sites
    ]
