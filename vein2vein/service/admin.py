"""Administration, as plain functions the CLI calls: users, passwords, tokens, unlocking.

vein2vein users add USER --name "Printed Name" --role qa   -> add_user(...)
vein2vein users passwd USER                                 -> set_password(...)
vein2vein users unlock USER                                 -> unlock_user(...)
vein2vein tokens create CLIENT --scope custody              -> create_token(...)
vein2vein tokens revoke CLIENT_OR_TOKEN_ID                  -> revoke_token(...)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher

from vein2vein.service.tokens import ApiToken, TokenStore
from vein2vein.service.users import User, UserStore, hash_password, validate_user_id
from workflows.model import Role

#: The demonstration users `ensure_demo_users` creates: id, printed name, roles, password.
DEMO_USERS: tuple[tuple[str, str, tuple[Role, ...], str], ...] = (
    ("qa", "Quinn Assurance", (Role.QA,), "vein2vein-qa"),
    ("qp", "Quentin Person", (Role.QUALIFIED_PERSON,), "vein2vein-qp"),
    ("operator", "Olive Operator", (Role.OPERATOR,), "vein2vein-operator"),
    ("engineer", "Pat Engineer", (Role.PROCESS_ENGINEER,), "vein2vein-engineer"),
    ("admin", "Ada Admin", (Role.ADMIN,), "vein2vein-admin"),
)


def _roles(roles: Iterable[Role | str]) -> tuple[Role, ...]:
    try:
        parsed = tuple(dict.fromkeys(Role(r) for r in roles))
    except ValueError as err:
        raise ValueError(f"{err}; roles: {', '.join(r.value for r in Role)}") from None
    if not parsed:
        raise ValueError("a user needs at least one role")
    return parsed


def add_user(
    data_dir: Path,
    user_id: str,
    printed_name: str,
    roles: Iterable[Role | str],
    password: str,
    *,
    hasher: PasswordHasher | None = None,
) -> User:
    """Add a user; ValueError if the id is taken or invalid, or the password too short."""
    store = UserStore(data_dir)
    validate_user_id(user_id)
    if store.get(user_id) is not None:
        raise ValueError(f"user {user_id} already exists")
    if not printed_name.strip():
        raise ValueError("a printed name is required: signatures show it")
    user = User(
        user_id=user_id,
        printed_name=printed_name.strip(),
        roles=_roles(roles),
        password_hash=hash_password(password, hasher),
        changed_at=datetime.now(UTC),
    )
    store.save(user)
    return user


def set_password(
    data_dir: Path, user_id: str, password: str, *, hasher: PasswordHasher | None = None
) -> User:
    """Set a user's password; their open console sessions end. KeyError if no such user."""
    store = UserStore(data_dir)
    user = store.get(user_id)
    if user is None:
        raise KeyError(f"no user {user_id}")
    updated = user.model_copy(
        update={"password_hash": hash_password(password, hasher), "changed_at": datetime.now(UTC)}
    )
    store.save(updated)
    return updated


def set_roles(data_dir: Path, user_id: str, roles: Iterable[Role | str]) -> User:
    """Replace a user's roles. KeyError if no such user."""
    store = UserStore(data_dir)
    user = store.get(user_id)
    if user is None:
        raise KeyError(f"no user {user_id}")
    updated = user.model_copy(update={"roles": _roles(roles)})
    store.save(updated)
    return updated


def list_users(data_dir: Path) -> list[User]:
    """Every user, by id."""
    return sorted(UserStore(data_dir).users().values(), key=lambda u: u.user_id)


def unlock_user(data_dir: Path, user_id: str, *, by: str, db_url: str | None = None) -> bool:
    """Unlock a user locked by failed attempts; False if they were not locked.

    `db_url` is the database of the security log (pass `Settings.ledger`).
    """
    return UserStore(data_dir, db_url).unlock(user_id, by=by)


def create_token(data_dir: Path, client_name: str, scopes: Iterable[str]) -> str:
    """A new API token for an integration client; the plaintext is returned only here."""
    return TokenStore(data_dir).create(client_name, tuple(scopes))


def revoke_token(data_dir: Path, client_or_token_id: str) -> int:
    """Revoke one token (by id) or every token of a client (by name); returns how many."""
    return TokenStore(data_dir).revoke(client_or_token_id)


def list_tokens(data_dir: Path) -> list[ApiToken]:
    """Every token (hashes only), oldest first."""
    return sorted(TokenStore(data_dir).tokens().values(), key=lambda t: t.created_at)


def ensure_demo_users(data_dir: Path) -> list[tuple[str, str]]:
    """Create the `DEMO_USERS` if no users file exists; returns (user id, password) created."""
    if UserStore(data_dir).exists():
        return []
    created = []
    for user_id, name, roles, password in DEMO_USERS:
        add_user(data_dir, user_id, name, roles, password)
        created.append((user_id, password))
    return created
