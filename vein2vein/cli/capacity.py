"""`vein2vein capacity`: a site's booked and free manufacturing lanes, day by day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import typer
from rich.table import Table

from records.reservations import Reservations
from vein2vein.cli.common import CliError, command, open_ledger, out, sites


@command
def capacity(
    site: str = typer.Argument(..., help="A configured site id, e.g. MFG-EAST."),
    start: str = typer.Option("", help="First day, YYYY-MM-DD (default: today, UTC)."),
    days: int = typer.Option(14, min=1, max=92, help="How many days to show."),
) -> None:
    """Booked and free lanes of SITE per day, and which batch holds each booked lane."""
    configured = sites().sites.get(site)
    if configured is None:
        raise CliError(f"no site {site} is configured")
    try:
        first = date.fromisoformat(start) if start else datetime.now(UTC).date()
    except ValueError as err:
        raise CliError(f"--start {start!r} is not a date (YYYY-MM-DD)") from err
    table = Table("day", "booked", "free", "batches", title=f"{site}: {configured.lanes} lanes")
    reservations = Reservations(open_ledger().engine)
    reservations.create_schema()  # a fresh install: no worker has booked yet
    for day in reservations.capacity(site, configured.lanes, first, days):
        held = ", ".join(f"lane {lane}: {b}" for lane, b in sorted(day.booked.items()))
        table.add_row(f"{day.day:%a %Y-%m-%d}", str(len(day.booked)), str(day.free), held)
    out.print(table)
