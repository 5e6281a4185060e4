"""`vein2vein users` and `vein2vein tokens`: the people who sign in and sign decisions, and
the scoped API tokens of integrations."""

from __future__ import annotations

import typer
from rich.table import Table

from vein2vein.cli.common import CliError, command, load_settings, out
from vein2vein.readable import when
from workflows.model import Role

users_app = typer.Typer(no_args_is_help=True, help="People who sign in and sign decisions.")
tokens_app = typer.Typer(no_args_is_help=True, help="Scoped API tokens for integrations.")


@users_app.command("add")
@command
def users_add(
    user_id: str,
    name: str = typer.Option(..., help="Printed name, as signatures show it."),
    role: list[Role] = typer.Option(..., help="A role; repeat for several."),
) -> None:
    """Add a user; the password is asked twice."""
    from vein2vein.service import admin

    password = _new_password()
    user = admin.add_user(load_settings().data_dir, user_id, name, role, password)
    out.print(f"added {user.user_id} ({', '.join(r.value for r in user.roles)})")


def _new_password() -> str:
    import getpass

    first = getpass.getpass("new password: ")
    if first != getpass.getpass("again: "):
        raise CliError("the passwords differ")
    return first


@users_app.command("passwd")
@command
def users_passwd(user_id: str) -> None:
    """Set a user's password (ends their console sessions)."""
    from vein2vein.service import admin

    admin.set_password(load_settings().data_dir, user_id, _new_password())
    out.print(f"password changed for {user_id}")


@users_app.command("unlock")
@command
def users_unlock(user_id: str, by: str = typer.Option(..., help="The admin unlocking.")) -> None:
    """Unlock a signer locked after three failed attempts."""
    from vein2vein.service import admin

    s = load_settings()
    changed = admin.unlock_user(s.data_dir, user_id, by=by, db_url=s.ledger)
    out.print(f"{user_id} unlocked" if changed else f"{user_id} was not locked")


@users_app.command("list")
@command
def users_list() -> None:
    """Every user and their roles."""
    from vein2vein.service import admin

    table = Table("user", "printed name", "roles")
    for u in admin.list_users(load_settings().data_dir):
        table.add_row(u.user_id, u.printed_name, ", ".join(r.value for r in u.roles))
    out.print(table)


@tokens_app.command("create")
@command
def tokens_create(
    client_name: str,
    scope: list[str] = typer.Option(
        ..., help="read, orders, custody, hospital, mes, results, tasks"
    ),
) -> None:
    """Create a scoped API token; it is shown once."""
    from vein2vein.service import admin

    out.print(admin.create_token(load_settings().data_dir, client_name, scope))


@tokens_app.command("revoke")
@command
def tokens_revoke(client_or_token_id: str) -> None:
    """Revoke a client's tokens (or one token by id)."""
    from vein2vein.service import admin

    n = admin.revoke_token(load_settings().data_dir, client_or_token_id)
    if n == 0:
        raise CliError(f"no token matches {client_or_token_id}")
    out.print(f"revoked {n} token(s)")


@tokens_app.command("list")
@command
def tokens_list() -> None:
    """Tokens by client and scope (never the secret)."""
    from vein2vein.service import admin

    table = Table("token", "client", "scopes", "created", "state")
    s = load_settings()
    for t in admin.list_tokens(s.data_dir):
        table.add_row(
            t.token_id,
            t.client,
            ", ".join(t.scopes),
            when(t.created_at, s.time_zone),
            "active" if t.active else f"revoked {when(t.revoked_at, s.time_zone)}",
        )
    out.print(table)
