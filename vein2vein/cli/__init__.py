"""The `vein2vein` command line: run the system, inspect definitions, operate batches.

Every command that fails on bad input prints one line starting with `error:` and exits 1,
having changed nothing. One module per command group; `common` holds what they share.

- `run`: `dev`, `serve`, `worker` (top-level commands)
- `definitions`, `batch`, `record`, `lots`, `ledger`, `keys`: the groups of the same name
- `users`: the `users` and `tokens` groups
- `capacity`: a site's booked and free lanes
"""

from __future__ import annotations

import typer

from vein2vein.cli import run
from vein2vein.cli.batch import batch_app
from vein2vein.cli.capacity import capacity
from vein2vein.cli.definitions import definitions_app
from vein2vein.cli.keys import keys_app
from vein2vein.cli.ledger import ledger_app
from vein2vein.cli.lots import lots_app
from vein2vein.cli.record import record_app
from vein2vein.cli.users import tokens_app, users_app

__all__ = ["app", "main"]

#: The root application (`vein2vein = "vein2vein.cli:main"` runs it).
app = typer.Typer(no_args_is_help=True, help="vein2vein: cell and gene therapy, vein to vein.")
app.command()(run.worker)
app.command()(run.dev)
app.command()(run.serve)
app.command()(capacity)
app.add_typer(definitions_app, name="definitions")
app.add_typer(batch_app, name="batch")
app.add_typer(ledger_app, name="ledger")
app.add_typer(record_app, name="record")
app.add_typer(lots_app, name="lots")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")


def main() -> None:
    """Console-script entry point."""
    app()
