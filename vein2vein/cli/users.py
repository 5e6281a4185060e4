"""`vein2vein users` and `vein2vein tokens`: the people who sign in and sign decisions, and
the scoped API tokens of integrations.

Every change is made by an administrator who authenticates first: `--admin` (or
`VEIN2VEIN_ADMIN`, else asked) and the password, asked as `batch decide` asks a signer's. The
one exception is the very first user, an admin, added while the user table is empty."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.table import Table

from vein2vein.cli.common import CliError, command, load_settings, out
from vein2vein.readable import when
from workflows.model import Role

if TYPE_CHECKING:
    from vein2vein.service.identity import Identity

users_app = typer.Typer(no_args_is_help=True, help="People who sign in and sign decisions.")
tokens_app = typer.Typer(no_args_is_help=True, help="Scoped API tokens for integrations.")
T = TypeVar("T")

AdminOption = typer.Option(
    None, "--admin", envvar="VEIN2VEIN_ADMIN", help="The administrator making the change."
)


def _identity() -> Identity:
    from vein2vein.service.identity import Identity

    s = load_settings()
    return Identity.open(s.ledger, s.data_dir)


@contextmanager
def _refusals() -> Iterator[None]:
    from vein2vein.service.admin import NotAdmin

    try:
        yield
    except NotAdmin as e:
        raise CliError(f"not allowed: {e}") from e
    except KeyError as e:
        raise CliError(str(e.args[0] if e.args else e)) from e


def _as_admin(identity: Identity, admin_id: str | None, change: Callable[[str], T]) -> T:
    """Authenticate the administrator, then make `change` as them."""
    import getpass

    from vein2vein.service import admin

    with _refusals():
        who = admin_id or typer.prompt("administrator")
        password = getpass.getpass(f"password for {who}: ")
        by = admin.authenticate_admin(identity, who.strip(), password)
        return change(by)


def _new_password() -> str:
    import getpass

    first = getpass.getpass("new password: ")
    if first != getpass.getpass("again: "):
        raise CliError("the passwords differ")
    return first


@users_app.command("add")
@command
def users_add(
    user_id: str,
    name: str = typer.Option(..., help="Printed name, as signatures show it."),
    role: list[Role] = typer.Option(..., help="A role; repeat for several."),
    admin_id: str | None = AdminOption,
) -> None:
    """Add a user; the password is asked twice. The first user (an admin) needs no admin."""
    from vein2vein.service import admin

    identity = _identity()
    if admin.needs_bootstrap(identity):
        if Role.ADMIN not in role:
            raise CliError("the first user must be an administrator (--role admin)")
        user = admin.add_user(identity, user_id, name, role, _new_password(), by=admin.BOOTSTRAP)
    else:
        user = _as_admin(
            identity,
            admin_id,
            lambda by: admin.add_user(identity, user_id, name, role, _new_password(), by=by),
        )
    out.print(f"added {user.user_id} ({', '.join(r.value for r in user.roles)})")
    if user.must_change_password:
        out.print(f"{user.user_id} must choose their own password at their first console sign-in")


@users_app.command("passwd")
@command
def users_passwd(user_id: str, admin_id: str | None = AdminOption) -> None:
    """Set a user's password (ends their console sessions); unless it is the admin's own, the
    user must replace it at their next console sign-in and cannot sign until then."""
    from vein2vein.service import admin

    identity = _identity()
    _as_admin(
        identity,
        admin_id,
        lambda by: admin.set_password(identity, user_id, _new_password(), by=by),
    )
    out.print(f"password changed for {user_id}")


@users_app.command("roles")
@command
def users_roles(
    user_id: str,
    role: list[Role] = typer.Option(..., help="A role; repeat for several."),
    admin_id: str | None = AdminOption,
) -> None:
    """Replace a user's roles."""
    from vein2vein.service import admin

    identity = _identity()
    user = _as_admin(identity, admin_id, lambda by: admin.set_roles(identity, user_id, role, by=by))
    out.print(f"{user.user_id} now holds {', '.join(r.value for r in user.roles)}")


@users_app.command("disable")
@command
def users_disable(user_id: str, admin_id: str | None = AdminOption) -> None:
    """Disable a user: no sign-in, no signature; their sessions end."""
    from vein2vein.service import admin

    identity = _identity()
    done = _as_admin(
        identity, admin_id, lambda by: admin.set_disabled(identity, user_id, True, by=by)
    )
    out.print(f"{user_id} disabled" if done else f"{user_id} was disabled already")


@users_app.command("enable")
@command
def users_enable(user_id: str, admin_id: str | None = AdminOption) -> None:
    """Enable a disabled user again."""
    from vein2vein.service import admin

    identity = _identity()
    done = _as_admin(
        identity, admin_id, lambda by: admin.set_disabled(identity, user_id, False, by=by)
    )
    out.print(f"{user_id} enabled" if done else f"{user_id} was enabled already")


@users_app.command("remove")
@command
def users_remove(user_id: str, admin_id: str | None = AdminOption) -> None:
    """Remove a user (their sessions end; the id is never given to anybody else)."""
    from vein2vein.service import admin

    identity = _identity()
    _as_admin(identity, admin_id, lambda by: admin.remove_user(identity, user_id, by=by))
    out.print(f"{user_id} removed")


@users_app.command("unlock")
@command
def users_unlock(user_id: str, admin_id: str | None = AdminOption) -> None:
    """Clear a user's sign-in throttling after failed attempts."""
    from vein2vein.service import admin

    identity = _identity()
    changed = _as_admin(identity, admin_id, lambda by: admin.unlock_user(identity, user_id, by=by))
    out.print(f"{user_id} unlocked" if changed else f"{user_id} was not throttled")


@users_app.command("logout")
@command
def users_logout(user_id: str, admin_id: str | None = AdminOption) -> None:
    """End every console session of a user, on every replica."""
    from vein2vein.service import admin

    identity = _identity()
    n = _as_admin(identity, admin_id, lambda by: admin.revoke_sessions(identity, user_id, by=by))
    out.print(f"ended {n} session(s) of {user_id}")


@users_app.command("list")
@command
def users_list() -> None:
    """Every user, their roles and state."""
    from vein2vein.service import admin

    table = Table("user", "printed name", "roles", "state")
    for u in admin.list_users(_identity()):
        state = "disabled" if u.disabled else "active"
        table.add_row(u.user_id, u.printed_name, ", ".join(r.value for r in u.roles), state)
    out.print(table)


@tokens_app.command("create")
@command
def tokens_create(
    client_name: str,
    scope: list[str] = typer.Option(
        ..., help="read, orders, custody, hospital, mes, results, tasks"
    ),
    expires_days: int = typer.Option(90, help="Days until the token stops working."),
    site: str | None = typer.Option(None, help="The one site this client reports for."),
    admin_id: str | None = AdminOption,
) -> None:
    """Create a scoped API token; it is shown once."""
    from vein2vein.service import admin
    from vein2vein.service.tokens import token_request_problem

    token_request_problem(client_name, scope, expires_days, site)  # before the admin's password
    identity = _identity()
    plaintext = _as_admin(
        identity,
        admin_id,
        lambda by: admin.create_token(
            identity, client_name, scope, by=by, expires_days=expires_days, site=site
        ),
    )
    out.print(plaintext)


@tokens_app.command("revoke")
@command
def tokens_revoke(client_or_token_id: str, admin_id: str | None = AdminOption) -> None:
    """Revoke a client's tokens (or one token by id)."""
    from vein2vein.service import admin

    identity = _identity()
    n = _as_admin(
        identity, admin_id, lambda by: admin.revoke_token(identity, client_or_token_id, by=by)
    )
    if n == 0:
        raise CliError(f"no token matches {client_or_token_id}")
    out.print(f"revoked {n} token(s)")


@tokens_app.command("list")
@command
def tokens_list() -> None:
    """Tokens by client, scope, site and expiry (never the secret)."""
    from vein2vein.service import admin

    table = Table("token", "client", "scopes", "site", "created", "expires", "state")
    s = load_settings()
    for t in admin.list_tokens(_identity()):
        table.add_row(
            t.token_id,
            t.client,
            ", ".join(t.scopes),
            t.site or "any",
            when(t.created_at, s.time_zone),
            when(t.expires_at, s.time_zone),
            t.state if t.revoked_at is None else f"revoked {when(t.revoked_at, s.time_zone)}",
        )
    out.print(table)
