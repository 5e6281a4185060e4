"""`vein2vein lots`: material lot genealogy and recalls, across every level (lots made from
lots: vector -> drug substance -> vials or doses)."""

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
    """Every batch and COI that consumed LOT or a lot made from it, at any depth."""
    from records import Genealogy

    uses = Genealogy(open_ledger().engine).where_used(lot)
    table = Table("batch", "COI", "consumed", "via", "made", "step", "at")
    for u in uses:
        table.add_row(
            u.batch_id,
            u.coi or "",
            u.lot,
            " -> ".join(u.path),
            ", ".join(u.made),
            u.step,
            when(u.at, load_settings().time_zone),
        )
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
    """Hold every batch that consumed LOT, or a lot made from it, and is not yet infused
    (opens a deviation each); withhold the stock of every such lot; list the batches already
    administered for the patients' follow-up."""
    import secrets

    from records import Genealogy
    from records.reservations import Reservations
    from workflows.client import RecallTarget, recall_lot
    from workflows.model import LotRecall

    ledger = open_ledger()
    genealogy = Genealogy(ledger.engine)
    uses = genealogy.where_used(lot)
    if not uses:
        raise CliError(f"no batch consumed {lot}")
    recall = LotRecall(
        recall_id=f"RCL-{secrets.token_hex(6)}", lot=lot, reason=reason, requested_by=by
    )
    targets = [RecallTarget(batch_id=u.batch_id, coi=u.coi, lot=u.lot, path=u.path) for u in uses]

    async def go() -> list[Any]:
        return await recall_lot(await temporal_client(), targets, recall)

    outcomes = run(go())
    withheld = Reservations(ledger.engine).withhold(
        genealogy.affected_lots(lot), f"recall:{recall.recall_id}"
    )
    table = Table("batch", "COI", "via", "held", "why", title=f"recall {recall.recall_id} of {lot}")
    for o in outcomes:
        held = "yes" if o.held else ("administered" if o.administered else "no")
        table.add_row(o.batch_id, o.coi or "", " -> ".join(o.path), held, o.reason)
    out.print(table)
    out.print(f"{len(withheld)} dose(s) in stock withheld")
    administered = [o for o in outcomes if o.administered]
    if administered:
        out.print(
            "already administered, for follow-up: " + ", ".join(o.batch_id for o in administered)
        )
