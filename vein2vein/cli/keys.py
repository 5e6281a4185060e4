"""`vein2vein keys`: the signing key and the registry of keys the workers trust.

Rotation makes a new key the one that signs and keeps the old one trusted, so decisions signed
a moment ago still verify; revocation refuses a key's signatures from an instant on. Workers
pick up a changed registry within seconds. Bad input prints one `error:` line, exits 1 and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from vein2vein import keys
from vein2vein.cli.common import err
from vein2vein.readable import utc_iso
from vein2vein.settings import Settings
from workflows.keyring import TrustedKey

keys_app = typer.Typer(
    no_args_is_help=True, help="The signing key and the keys the workers trust (rotate, revoke)."
)
out = Console(emoji=False, highlight=False)
T = TypeVar("T")


def _command(fn: Callable[..., T]) -> Callable[..., T]:
    """A registry problem or bad input: one line on stderr and exit code 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (keys.RegistryError, ValueError) as e:
            err.print(f"error: {e}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from e

    return wrapper


def _instant(text: str | None, what: str) -> datetime:
    """`text` as an aware instant (UTC when it names no zone); now when it is None."""
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError as e:
        raise ValueError(f"{what} {text!r} is not an ISO 8601 date and time") from e
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _state(key: TrustedKey, now: datetime) -> str:
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    if key.valid_from is not None and key.valid_from > now:
        return "not yet valid"
    return "trusted" if key.revoked_at is None else "trusted until revocation"


def _when(at: datetime | None) -> str:
    return utc_iso(at)


@keys_app.command("list")
@_command
def keys_list() -> None:
    """Every registered key: validity, revocation, state, and which one signs."""
    settings = Settings.from_env()
    registry = keys.load_registry(settings.trusted_keys_file)
    signing = keys.current_signing_key_id(settings)
    now = datetime.now(UTC)
    table = Table("key", "valid from", "revoked at", "state", "signs", title="trusted keys")
    for key in sorted(registry.keys.values(), key=lambda k: (k.valid_from or now, k.key_id)):
        table.add_row(
            key.key_id,
            _when(key.valid_from),
            _when(key.revoked_at),
            _state(key, now),
            "yes" if key.key_id == signing else "",
        )
    out.print(table)
    out.print(f"registry: {settings.trusted_keys_file}", markup=False)
    if not registry.keys:
        out.print("no trusted keys: every signed decision will be refused", markup=False)


@keys_app.command("rotate")
@_command
def keys_rotate() -> None:
    """Make a new signing key the one that signs; the old one stays trusted for verification."""
    settings = Settings.from_env()
    old = keys.current_signing_key_id(settings)
    new = keys.rotate(settings)
    out.print(f"{new.key_id} now signs", markup=False)
    if old is not None:
        out.print(
            f"{old} stays trusted; restart running services so that they sign with {new.key_id},"
            f" then `vein2vein keys revoke {old}` if it must no longer be accepted",
            markup=False,
        )


@keys_app.command("revoke")
@_command
def keys_revoke(
    key_id: str,
    at: str | None = typer.Option(
        None, help="ISO 8601 instant from which its signatures are refused (default: now)."
    ),
) -> None:
    """Refuse KEY_ID's signatures made at or after an instant (recorded decisions stand)."""
    settings = Settings.from_env()
    when = _instant(at, "--at")
    keys.update_registry(
        settings.trusted_keys_file, lambda r: keys.with_revocation(r, key_id, when)
    )
    out.print(f"{key_id} revoked from {_when(when)}", markup=False)
    if keys.current_signing_key_id(settings) == key_id:
        out.print(f"{key_id} still signs here: run `vein2vein keys rotate`", markup=False)


@keys_app.command("add")
@_command
def keys_add(
    key_id: str,
    public_hex: str = typer.Argument(..., help="The Ed25519 public key, 64 hex digits."),
    valid_from: str | None = typer.Option(
        None, help="ISO 8601 instant from which its signatures count (default: now)."
    ),
) -> None:
    """Trust another signer's public key, e.g. that of another service replica."""
    settings = Settings.from_env()
    when = _instant(valid_from, "--valid-from")
    keys.update_registry(
        settings.trusted_keys_file,
        lambda r: keys.with_key(r, key_id, public_hex, valid_from=when),
    )
    out.print(f"{key_id} trusted from {_when(when)}", markup=False)
