"""The `vein2vein` command line: run the system, inspect definitions, operate batches.

Every command that fails on bad input prints one line starting with `error:` and exits 1,
having changed nothing. One module per command group; `common` holds what they share.

- `run`: `dev`, `serve`, `worker` (top-level commands)
- `definitions`, `batch`, `record`, `lots`, `ledger`, `keys`: the groups of the same name
- `users`: the `users` and `tokens` groups
- `capacity`: a site's booked and free lanes
- `simulate`: a scenario of the network on the discrete-event simulator (`simulation`)
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback

import typer
from typer.exceptions import TyperException

from vein2vein.cli import approvals as _approvals  # noqa: F401  (registers its commands)
from vein2vein.cli import run
from vein2vein.cli.batch import batch_app
from vein2vein.cli.capacity import capacity
from vein2vein.cli.definitions import definitions_app
from vein2vein.cli.keys import keys_app
from vein2vein.cli.ledger import ledger_app
from vein2vein.cli.lots import lots_app
from vein2vein.cli.record import record_app
from vein2vein.cli.simulate import simulate_command
from vein2vein.cli.users import tokens_app, users_app
from vein2vein.cli.validate import validate

__all__ = ["app", "main"]

#: The root application (`vein2vein = "vein2vein.cli:main"` runs it).
app = typer.Typer(no_args_is_help=True, help="vein2vein: cell and gene therapy, vein to vein.")
app.command()(run.worker)
app.command()(run.dev)
app.command()(run.serve)
app.command()(capacity)
app.command()(validate)
app.command(name="simulate")(simulate_command)
app.add_typer(definitions_app, name="definitions")
app.add_typer(batch_app, name="batch")
app.add_typer(ledger_app, name="ledger")
app.add_typer(record_app, name="record")
app.add_typer(lots_app, name="lots")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")


def run_command(args: list[str] | None = None) -> int:
    """Run one command line and return its exit status, having printed everything.

    Bad input of any kind ends in one `error:` line on stderr and status 1: a refusal of the
    domain (`common.command`), and equally a malformed option or an unknown command, which
    the argument parser would otherwise print as a usage box with status 2. A defect prints
    one line too (`VEIN2VEIN_DEBUG=1` adds the trace)."""
    try:
        result = app(args=args, standalone_mode=False)
    except typer.Exit as e:
        return int(e.exit_code)
    except typer.Abort:
        sys.stderr.write("error: aborted\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except TyperException as e:  # the parser's usage errors (and a request for help)
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()  # type: ignore[attr-defined]
            return 0
        return _usage_error(e)
    except Exception as e:
        if os.environ.get("VEIN2VEIN_DEBUG"):
            traceback.print_exc()
        sys.stderr.write(
            f"error: unexpected {type(e).__name__}: {e} (VEIN2VEIN_DEBUG=1 shows the trace)\n"
        )
        return 1
    return result if isinstance(result, int) else 0


def _usage_error(e: TyperException) -> int:
    message = e.format_message() if hasattr(e, "format_message") else str(e)
    ctx = getattr(e, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    sys.stderr.write(f"error: {' '.join(message.split())}{where}\n")
    return 1


def main() -> None:
    """Console-script entry point: run the command line, then leave without interpreter
    finalisation.

    A command that made a Temporal client has started the SDK runtime's native threads; if
    the interpreter tears down while they still hold the GIL machinery, Python aborts with
    `PyGILState_Release` (exit 134/139) after the command has already done its work. Every
    command's output is complete when it returns, so flush it and exit with its status
    directly."""
    code = 1
    try:
        code = run_command()
    finally:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    os._exit(code)
