"""`vein2vein lots`: material lot genealogy and recalls."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from vein2vein.cli.common import (
    CliError,
    command,
    load_settings,
    open_ledger,
    out,
    run,
    temporal_client,
)
from vein2vein.readable import when

lots_app = typer.Typer(no_args_is_help=True, help="Material lot genealogy.")


@lots_app.command("where-used")
@command
def lots_where_used(lot: str) -> None:
    """Every batch and COI that consumed LOT."""
    uses = open_ledger().where_used(lot)
    table = Table("batch", "COI", "step", "at")
    for u in uses:
        table.add_row(u.batch_id, u.coi or "", u.step, when(u.at, load_settings().time_zone))
    out.print(table)
    if not uses:
        out.print(f"no batch consumed {lot}")


@lots_app.command("recall")
@command
def lots_recall(
    lot: str,
    reason: str = typer.Option(..., help="Why the lot is recalled."),
    by: str = typer.Option(..., help="Who requests the recall."),
) -> None:
    """Hold every batch that consumed LOT and is not yet infused (opens a deviation each)."""
    import secrets

    from workflows.client import recall_lot
    from workflows.model import LotRecall

    uses = [(u.batch_id, u.coi) for u in open_ledger().where_used(lot)]
    if not uses:
        raise CliError(f"no batch consumed {lot}")
    recall = LotRecall(
        recall_id=f"RCL-{secrets.token_hex(6)}", lot=lot, reason=reason, requested_by=by
    )

    async def go() -> list[Any]:
        return await recall_lot(await temporal_client(), uses, recall)

    table = Table("batch", "COI", "held", "why", title=f"recall {recall.recall_id} of {lot}")
    for o in run(go()):
        table.add_row(o.batch_id, o.coi or "", "yes" if o.held else "no", o.reason)
    out.print(table)
