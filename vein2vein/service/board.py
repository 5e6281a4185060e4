"""The operations board: one row per batch with what it awaits, every running clock coloured
by risk, its next deadline and its open deviations; sorted most urgent first.

Nothing here computes a clock. A clock's remaining time is the one the engine published
(`Clock.remaining`); the risk only compares that figure with the clock's own span
(`limit - started`, two published instants). Ages (how long something has waited) are
measured against the service's clock, as a person would read a wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from vein2vein.readable import duration, remaining
from workflows.model import BatchRecord, BatchStatus, Clock, ClockKind

#: A running clock is at risk once this share of its span, or `RISK_CAP`, whichever is less,
#: is left: a 30-minute hold warns in its last 7.5 minutes, a three-week window in its last
#: 12 hours (warning days ahead would colour half the board amber and teach people to ignore it).
RISK_SHARE = 0.25
RISK_CAP = timedelta(hours=12)


class Risk(StrEnum):
    """How close a clock is to its limit, as the board colours it."""

    OVERDUE = "overdue"
    NEAR = "near"
    FINE = "fine"
    NONE = "none"


class Sort(StrEnum):
    """How the board orders its rows (the `sort` query parameter)."""

    URGENCY = "urgency"
    WAITING = "waiting"
    BATCH = "batch"


#: What each order is called on the board's sort links.
SORT_LABELS: dict[Sort, str] = {
    Sort.URGENCY: "most urgent",
    Sort.WAITING: "waiting longest",
    Sort.BATCH: "batch id",
}


class ClockCell(BaseModel):
    """One running clock as the board and the batch page show it."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    started: datetime | None
    limit: datetime
    remaining: str
    risk: Risk
    left: timedelta | None


class AwaitCell(BaseModel):
    """One thing a batch waits for, since when and for how long, and who may decide it."""

    model_config = ConfigDict(frozen=True)

    label: str
    kind: str
    since: datetime
    waited: str
    deadline: datetime | None
    roles: str


class NextCell(BaseModel):
    """The batch's next deadline: its most pressing clock, else what it waits for and since
    when (a release gate has no clock, yet someone should see how long it has waited)."""

    model_config = ConfigDict(frozen=True)

    text: str
    word: str = ""
    at: datetime | None = None
    risk: Risk = Risk.NONE


class BoardRow(BaseModel):
    """One line of the board."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    product: str
    definition_version: str
    status: BatchStatus
    stage: str
    awaiting: list[AwaitCell]
    clocks: list[ClockCell]
    next: NextCell
    deviations: list[str]
    sites: str
    risk: Risk
    rank: int
    waiting_since: datetime | None


def risk_of(clock: Clock) -> Risk:
    """The clock's risk from its published remaining time and its span."""
    left = clock.remaining
    if left is None:  # a record read from the ledger: no published reading
        return Risk.NONE
    if left < timedelta(0):
        return Risk.OVERDUE
    span = clock.limit - clock.started if clock.started is not None else None
    margin = min(RISK_CAP, span * RISK_SHARE) if span is not None else RISK_CAP
    return Risk.NEAR if left <= margin else Risk.FINE


def clock_cells(clocks: Iterable[Clock], *, holds: bool = True) -> list[ClockCell]:
    """The running clocks, most pressing first (holds left out unless `holds`)."""
    cells = [
        ClockCell(
            name=c.name,
            kind=c.kind.value.replace("_", " "),
            started=c.started,
            limit=c.limit,
            remaining=remaining(c.remaining),
            risk=risk_of(c),
            left=c.remaining,
        )
        for c in clocks
        if holds or c.kind != ClockKind.HOLD
    ]
    return sorted(cells, key=_pressing)


def await_cells(rec: BatchRecord, now: datetime) -> list[AwaitCell]:
    """What the batch waits for, as the engine published it, with how long it has waited."""
    return [
        AwaitCell(
            label=a.label(),
            kind=a.kind.value,
            since=a.since,
            waited=duration(now - a.since),
            deadline=a.deadline,
            roles=", ".join(r.value for r in a.roles),
        )
        for a in rec.awaiting
    ]


def next_cell(
    rec: BatchRecord, clocks: Sequence[ClockCell], awaiting: Sequence[AwaitCell]
) -> NextCell:
    """The most pressing clock; else the earliest awaited deadline; else what the batch has
    waited for longest; else the record's next deadline (a record without readings)."""
    if clocks:
        c = clocks[0]
        text = f"{c.name}: {c.remaining or c.kind}"
        return NextCell(text=text, word="until", at=c.limit, risk=c.risk)
    due = [a for a in awaiting if a.deadline is not None]
    if due:
        first = min(due, key=lambda a: _naive(a.deadline))
        return NextCell(text=first.label, word="due", at=first.deadline)
    if awaiting:
        oldest = min(awaiting, key=lambda a: _naive(a.since))
        text = f"waiting {oldest.waited} for {oldest.label}"
        return NextCell(text=text, word="since", at=oldest.since)
    if rec.next_deadline is not None:
        return NextCell(text="next deadline", word="at", at=rec.next_deadline)
    return NextCell(text="")


def board_row(rec: BatchRecord, now: datetime) -> BoardRow:
    """The board's line for `rec`."""
    clocks = clock_cells(rec.clocks)
    awaiting = await_cells(rec, now)
    open_devs = [d.deviation_id for d in rec.open_deviations()]
    risk = clocks[0].risk if clocks else Risk.NONE
    return BoardRow(
        batch_id=rec.batch_id,
        product=rec.product,
        definition_version=rec.definition_version,
        status=rec.status,
        stage=rec.stage or "",
        awaiting=awaiting,
        clocks=clocks,
        next=next_cell(rec, clocks, awaiting),
        deviations=open_devs,
        sites=", ".join(rec.sites.values()),
        risk=risk,
        rank=_rank(risk, bool(open_devs), bool(awaiting)),
        waiting_since=min((a.since for a in rec.awaiting), default=None),
    )


def sort_rows(rows: Iterable[BoardRow], by: Sort) -> list[BoardRow]:
    """`rows` in the board's order `by`. Most urgent: overdue clocks, then clocks at risk,
    then open deviations, then other clocks, then batches that wait, then the rest; within
    each, least time left, then waiting longest. Waiting longest: oldest awaited first."""
    far = timedelta.max
    if by == Sort.BATCH:
        return sorted(rows, key=lambda r: r.batch_id)
    if by == Sort.WAITING:
        return sorted(
            rows, key=lambda r: (r.waiting_since is None, _naive(r.waiting_since), r.batch_id)
        )
    return sorted(
        rows,
        key=lambda r: (
            r.rank,
            r.clocks[0].left if r.clocks and r.clocks[0].left is not None else far,
            r.waiting_since is None,
            _naive(r.waiting_since),
            r.batch_id,
        ),
    )


def parse_sort(value: str) -> Sort:
    """The board order a query parameter names; most urgent for anything else."""
    return Sort(value) if value in set(Sort) else Sort.URGENCY


def _rank(risk: Risk, deviations: bool, waiting: bool) -> int:
    if risk == Risk.OVERDUE:
        return 0
    if risk == Risk.NEAR:
        return 1
    if deviations:
        return 2
    if risk == Risk.FINE:
        return 3
    return 4 if waiting else 5


def _pressing(c: ClockCell) -> tuple[int, timedelta]:
    order = {Risk.OVERDUE: 0, Risk.NEAR: 1, Risk.FINE: 2, Risk.NONE: 3}
    return order[c.risk], c.left if c.left is not None else timedelta.max


def _naive(at: datetime | None) -> datetime:
    # Records from Temporal and from the ledger may differ in tzinfo; compare as UTC-naive.
    if at is None:
        return datetime.max
    return at.replace(tzinfo=None) - (at.utcoffset() or timedelta(0))
