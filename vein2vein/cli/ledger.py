"""`vein2vein ledger`: verify the hash-chained audit ledger and its signed checkpoints.

`verify` recomputes every chain and holds it to every signed checkpoint: those in the database
table, and those in the checkpoint journal (or, with `--checkpoints FILE`, an external archive).
`checkpoint` signs every chain head that moved, now; `checkpoints export FILE` writes them all
for an archive outside this machine. Problems print one `error:` line each and exit 1.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from records import (
    Checkpointer,
    CheckpointFileError,
    Ledger,
    stored_checkpoints,
    write_checkpoint_file,
)
from vein2vein import keys
from vein2vein.cli.common import err
from vein2vein.settings import Settings
from workflows.signatures import SigningKey

ledger_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit ledger.")
checkpoints_app = typer.Typer(no_args_is_help=True, help="Signed checkpoints of the chain heads.")
ledger_app.add_typer(checkpoints_app, name="checkpoints")

out = Console(emoji=False, highlight=False)
T = TypeVar("T")


class _Failed(Exception):
    """Already reported on stderr: exit 1."""


def _command(fn: Callable[..., T]) -> Callable[..., T]:
    """Bad input or a file problem: one `error:` line on stderr and exit code 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except _Failed as e:
            raise typer.Exit(1) from e
        except (CheckpointFileError, keys.RegistryError, OSError) as e:
            err.print(f"error: {e}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from e

    return wrapper


def _ledger(settings: Settings) -> Ledger:
    led = Ledger.from_url(settings.ledger)
    led.create_schema()
    return led


def public_keys(settings: Settings) -> dict[str, str]:
    """The public keys checkpoint signatures are verified with: `{key_id: public_hex}`.

    The deployment's key registry (`Settings.trusted_keys_file`), which keeps a rotated-out key
    so what it signed still verifies; without a registry file, the signing key's own public key
    (neither is ever created here).
    """
    if settings.trusted_keys_file.exists():
        registry = keys.load_registry(settings.trusted_keys_file)
        return {key_id: key.public_hex for key_id, key in registry.keys.items()}
    if not settings.signing_key_file.exists():
        return {}
    key = SigningKey.load(settings.signing_key_file)
    return {key.key_id: key.public_hex()}


@ledger_app.command("verify")
@_command
def ledger_verify(
    batch: str | None = typer.Option(None, help="Only this batch."),
    checkpoints: Path | None = typer.Option(
        None,
        "--checkpoints",
        help="An exported checkpoint archive to verify against (default: the journal).",
    ),
) -> None:
    """Recompute every hash chain and compare it with the signed checkpoints."""
    settings = Settings.from_env()
    file = checkpoints
    if file is None and settings.checkpoint_journal_file.exists():
        file = settings.checkpoint_journal_file
    keys = public_keys(settings)
    report = _ledger(settings).verify(batch, public_keys=keys, checkpoint_file=file)
    if not report.found:
        err.print(f"error: the ledger has no batch {batch}", soft_wrap=True, markup=False)
        raise _Failed
    if not report.ok:
        for b in report.breaks:
            err.print(f"error: batch {b.batch_id} entry {b.seq}: {b.reason}", soft_wrap=True)
        raise _Failed
    against = f"; compared with {file}" if file else "; no checkpoint journal"
    if report.not_in_file:
        against += f" ({report.not_in_file} checkpoint(s) not in it)"
    out.print(
        f"[green]ok[/green] {report.batches_checked} batch(es), {report.entries_checked}"
        f" entries, {report.checkpoints_checked} signed checkpoint(s)"
        f" (keys: {', '.join(sorted(keys)) or 'none'}){against}",
        soft_wrap=True,
    )


@ledger_app.command("checkpoint")
@_command
def ledger_checkpoint(
    batch: list[str] | None = typer.Option(None, help="Only these batches (repeatable)."),
) -> None:
    """Sign every chain head that moved since its last checkpoint, now."""
    settings = Settings.from_env()
    key = keys.deployment_signing_key(settings)
    checkpointer = Checkpointer(_ledger(settings), key, settings.checkpoint_journal_file)
    run = checkpointer.checkpoint(batch or None)
    for c in run.made:
        out.print(f"{c.checkpoint_id} {c.entry_hash[:16]} signed by {c.key_id}", soft_wrap=True)
    out.print(f"{len(run.made)} checkpoint(s) made, journal {settings.checkpoint_journal_file}")
    if run.refused:
        for b in run.refused:
            err.print(
                f"error: batch {b.batch_id} entry {b.seq}: {b.reason}; not checkpointed",
                soft_wrap=True,
            )
        raise _Failed


@checkpoints_app.command("export")
@_command
def checkpoints_export(file: Path) -> None:
    """Write every checkpoint in the table to FILE (a new file, journal format) for an
    archive outside this machine; verify against it with `ledger verify --checkpoints FILE`."""
    settings = Settings.from_env()
    with _ledger(settings).engine.connect() as conn:
        count = write_checkpoint_file(file, stored_checkpoints(conn))
    out.print(f"wrote {count} checkpoint(s) to {file}", soft_wrap=True)


@checkpoints_app.command("list")
@_command
def checkpoints_list(batch: str | None = typer.Option(None, help="Only this batch.")) -> None:
    """The checkpoints in the table, oldest first."""
    settings = Settings.from_env()
    with _ledger(settings).engine.connect() as conn:
        found = stored_checkpoints(conn, batch)
    table = Table("checkpoint", "seq", "entry hash", "at", "key")
    for c in found:
        at = c.model_dump(mode="json")["at"]
        table.add_row(c.checkpoint_id, str(c.seq), c.entry_hash[:16], at, c.key_id)
    out.print(table)
