"""Administration of people, sessions and tokens: each change made by an authenticated admin
and written to the security log with who did it.

The CLI authenticates the admin with `authenticate_admin` (user id and password asked), the
console and API take the signed-in admin; each function here refuses a `by` that is not an
active admin. The one exception is `BOOTSTRAP`: the very first user, an admin, added while the
user table is empty.

vein2vein users add USER --name "Printed Name" --role qa   -> add_user(...)
vein2vein users passwd|disable|enable|remove|unlock USER    -> set_password(...), ...
vein2vein users roles USER --role qa                        -> set_roles(...)
vein2vein users sessions revoke USER                        -> revoke_sessions(...)
vein2vein tokens create CLIENT --scope custody              -> create_token(...)
vein2vein tokens revoke CLIENT_OR_TOKEN_ID                  -> revoke_token(...)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from argon2 import PasswordHasher

from vein2vein.service.identity import Identity
from vein2vein.service.security import SecurityEvent
from vein2vein.service.throttle import account_key
from vein2vein.service.tokens import DEFAULT_EXPIRY_DAYS, ApiToken
from vein2vein.service.users import User, hash_password, parse_roles, validate_user_id
from workflows.model import Role

#: The actor of the first admin, added while nobody else exists.
BOOTSTRAP = "system:bootstrap"
#: The actor of the demonstration users (`vein2vein dev` on an empty user table).
DEMO = "system:demo"

#: The demonstration users `ensure_demo_users` creates: id, printed name, roles, password.
DEMO_USERS: tuple[tuple[str, str, tuple[Role, ...], str], ...] = (
    ("qa", "Quinn Assurance", (Role.QA,), "vein2vein-qa"),
    ("qp", "Quentin Person", (Role.QUALIFIED_PERSON,), "vein2vein-qp"),
    ("operator", "Olive Operator", (Role.OPERATOR,), "vein2vein-operator"),
    ("engineer", "Pat Engineer", (Role.PROCESS_ENGINEER,), "vein2vein-engineer"),
    ("admin", "Ada Admin", (Role.ADMIN,), "vein2vein-admin"),
)


class NotAdmin(Exception):
    """The actor is not an active administrator."""


def authenticate_admin(
    identity: Identity, user_id: str, password: str, address: str = "cli"
) -> str:
    """`user_id` if the password is theirs and they are an active admin; else `NotAdmin`
    (a wrong password counts towards the same throttle as a sign-in)."""
    from vein2vein.service.authn import AuthError

    try:
        user = identity.auth.authenticate(
            user_id, password, purpose="administration", address=address
        )
    except AuthError as err:
        raise NotAdmin(err.message) from None
    if not user.holds(Role.ADMIN):
        raise NotAdmin(f"{user_id} is not an administrator")
    return user.user_id


def _require_admin(identity: Identity, by: str) -> None:
    user = identity.users.get(by)
    if user is None or not user.active or not user.holds(Role.ADMIN):
        raise NotAdmin(f"{by} is not an active administrator")


def _existing(identity: Identity, user_id: str) -> User:
    user = identity.users.get(user_id)
    if user is None or user.removed_at is not None:
        raise KeyError(f"no user {user_id}")
    return user


def _keep_an_admin(identity: Identity, user_id: str) -> None:
    others = [
        u
        for u in identity.users.users().values()
        if u.user_id != user_id and u.active and u.holds(Role.ADMIN)
    ]
    if not others:
        raise ValueError(f"{user_id} is the last active administrator")


def _names(roles: Iterable[Role]) -> str:
    return ", ".join(r.value for r in roles)


def needs_bootstrap(identity: Identity) -> bool:
    """True while no user was ever added: the first admin may be added without an admin."""
    return identity.users.count() == 0


def add_user(
    identity: Identity,
    user_id: str,
    printed_name: str,
    roles: Iterable[Role | str],
    password: str,
    *,
    by: str,
    hasher: PasswordHasher | None = None,
) -> User:
    """Add a user; ValueError if the id was ever taken or is invalid, or the password short."""
    parsed = parse_roles(roles)
    if by == BOOTSTRAP:
        if not needs_bootstrap(identity):
            raise NotAdmin("users exist already: an administrator must add users")
        if Role.ADMIN not in parsed:
            raise ValueError("the first user must be an administrator (--role admin)")
    else:
        _require_admin(identity, by)
    # The first admin chose their own password; anyone else's was chosen by an admin.
    return _insert_user(
        identity,
        user_id,
        printed_name,
        parsed,
        password,
        by=by,
        hasher=hasher,
        must_change=by != BOOTSTRAP,
    )


def _insert_user(
    identity: Identity,
    user_id: str,
    printed_name: str,
    parsed: tuple[Role, ...],
    password: str,
    *,
    by: str,
    hasher: PasswordHasher | None = None,
    must_change: bool,
) -> User:
    validate_user_id(user_id)
    if not printed_name.strip():
        raise ValueError("a printed name is required: signatures show it")
    now = datetime.now(UTC)
    user = User(
        user_id=user_id,
        printed_name=printed_name.strip(),
        roles=parsed,
        password_hash=hash_password(password, hasher),
        created_at=now,
        changed_at=now,
        must_change_password=must_change,
    )
    identity.users.insert(user)
    identity.security.record(
        SecurityEvent.USER_ADDED,
        actor=by,
        user_id=user_id,
        detail=f"roles {', '.join(r.value for r in parsed)}"
        + ("; must change the password at first sign-in" if must_change else ""),
    )
    return user


def set_password(
    identity: Identity,
    user_id: str,
    password: str,
    *,
    by: str,
    hasher: PasswordHasher | None = None,
) -> None:
    """Set a user's password; their sessions end, and unless the admin set their own, the user
    must change it at their next sign-in. KeyError if no such user."""
    _require_admin(identity, by)
    _existing(identity, user_id)
    must_change = by != user_id
    identity.users.change(
        user_id,
        password_hash=hash_password(password, hasher),
        must_change_password=must_change,
    )
    ended = identity.sessions.revoke_user(user_id, by=by)
    identity.security.record(
        SecurityEvent.PASSWORD_CHANGED,
        actor=by,
        user_id=user_id,
        detail=f"{ended} session(s) ended"
        + ("; must change it at the next sign-in" if must_change else ""),
    )


def change_own_password(
    identity: Identity,
    user_id: str,
    current: str,
    new: str,
    *,
    address: str | None = None,
    hasher: PasswordHasher | None = None,
) -> None:
    """A user replaces their own password (after typing the current one, throttled as a
    sign-in); this clears `must_change_password` and ends every session of theirs.

    `AuthError` for a wrong current password, ValueError for a new one too short or unchanged.
    """
    user = identity.auth.authenticate(user_id, current, purpose="password change", address=address)
    if new == current:
        raise ValueError("the new password must differ from the current one")
    identity.users.change(
        user.user_id, password_hash=hash_password(new, hasher), must_change_password=False
    )
    ended = identity.sessions.revoke_user(user.user_id, by=user.user_id)
    identity.security.record(
        SecurityEvent.PASSWORD_CHANGED,
        actor=user.user_id,
        user_id=user.user_id,
        detail=f"changed by the user; {ended} session(s) ended",
    )


def set_roles(identity: Identity, user_id: str, roles: Iterable[Role | str], *, by: str) -> User:
    """Replace a user's roles (effective on their next request). KeyError if no such user."""
    _require_admin(identity, by)
    before = _existing(identity, user_id)
    parsed = parse_roles(roles)
    if before.holds(Role.ADMIN) and Role.ADMIN not in parsed:
        _keep_an_admin(identity, user_id)
    identity.users.change(user_id, roles=parsed)
    identity.security.record(
        SecurityEvent.ROLES_CHANGED,
        actor=by,
        user_id=user_id,
        detail=f"{_names(before.roles)} -> {_names(parsed)}",
    )
    return _existing(identity, user_id)


def set_disabled(identity: Identity, user_id: str, disabled: bool, *, by: str) -> bool:
    """Disable (sessions end) or enable a user; False if already so. KeyError if no such user."""
    _require_admin(identity, by)
    user = _existing(identity, user_id)
    if user.disabled == disabled:
        return False
    if disabled and user.holds(Role.ADMIN):
        _keep_an_admin(identity, user_id)
    identity.users.change(user_id, disabled=disabled)
    ended = identity.sessions.revoke_user(user_id, by=by) if disabled else 0
    event = SecurityEvent.USER_DISABLED if disabled else SecurityEvent.USER_ENABLED
    identity.security.record(event, actor=by, user_id=user_id, detail=f"{ended} session(s) ended")
    return True


def remove_user(identity: Identity, user_id: str, *, by: str) -> None:
    """Remove a user: no sign-in, no roles, sessions end; the id is never given again."""
    _require_admin(identity, by)
    user = _existing(identity, user_id)
    if user.holds(Role.ADMIN):
        _keep_an_admin(identity, user_id)
    identity.users.change(
        user_id, password_hash=None, disabled=True, removed_at=datetime.now(UTC).isoformat()
    )
    ended = identity.sessions.revoke_user(user_id, by=by)
    identity.throttle.clear(account_key(user_id))
    identity.security.record(
        SecurityEvent.USER_REMOVED, actor=by, user_id=user_id, detail=f"{ended} session(s) ended"
    )


def unlock_user(identity: Identity, user_id: str, *, by: str) -> bool:
    """Clear a user's sign-in throttling; False if nothing was counted. KeyError if no user."""
    _require_admin(identity, by)
    _existing(identity, user_id)
    cleared = identity.throttle.clear(account_key(user_id))
    if cleared:
        identity.security.record(
            SecurityEvent.UNLOCKED, actor=by, user_id=user_id, detail="throttling cleared"
        )
    return cleared


def revoke_sessions(identity: Identity, user_id: str, *, by: str) -> int:
    """End every session of a user; returns how many were live."""
    _require_admin(identity, by)
    _existing(identity, user_id)
    ended = identity.sessions.revoke_user(user_id, by=by)
    identity.security.record(
        SecurityEvent.SESSIONS_REVOKED, actor=by, user_id=user_id, detail=f"{ended} session(s)"
    )
    return ended


def link_identity(identity: Identity, issuer: str, subject: str, user_id: str, *, by: str) -> None:
    """Map an external identity (OIDC issuer and subject) to a user, for single sign-on."""
    _require_admin(identity, by)
    _existing(identity, user_id)
    identity.users.link_identity(issuer, subject, user_id, by=by)
    identity.security.record(
        SecurityEvent.IDENTITY_LINKED, actor=by, user_id=user_id, target=issuer, detail=subject
    )


def list_users(identity: Identity) -> list[User]:
    """Every user not removed, by id."""
    return list(identity.users.users().values())


def create_token(
    identity: Identity,
    client_name: str,
    scopes: Iterable[str],
    *,
    by: str,
    expires_days: int = DEFAULT_EXPIRY_DAYS,
    site: str | None = None,
) -> str:
    """A new API token for an integration client; the plaintext is returned only here."""
    _require_admin(identity, by)
    plaintext, token = identity.tokens.create(
        client_name, tuple(scopes), by=by, expires_days=expires_days, site=site
    )
    identity.security.record(
        SecurityEvent.TOKEN_CREATED,
        actor=by,
        target=f"{token.client}/{token.token_id}",
        detail=f"scopes {', '.join(token.scopes)}; site {site or 'any'}; "
        f"expires {token.expires_at.date().isoformat()}",
    )
    return plaintext


def revoke_token(identity: Identity, client_or_token_id: str, *, by: str) -> int:
    """Revoke one token (by id) or every token of a client (by name); returns how many."""
    _require_admin(identity, by)
    revoked = identity.tokens.revoke(client_or_token_id, by=by)
    for token in revoked:
        identity.security.record(
            SecurityEvent.TOKEN_REVOKED, actor=by, target=f"{token.client}/{token.token_id}"
        )
    return len(revoked)


def list_tokens(identity: Identity) -> list[ApiToken]:
    """Every token (hashes only), oldest first."""
    return list(identity.tokens.tokens().values())


def ensure_demo_users(identity: Identity) -> list[tuple[str, str]]:
    """Create the `DEMO_USERS` if no user was ever added; returns (user id, password) created."""
    if not needs_bootstrap(identity):
        return []
    created = []
    for user_id, name, roles, password in DEMO_USERS:
        # Published passwords: whoever signs in first as a demo user must choose their own.
        _insert_user(identity, user_id, name, roles, password, by=DEMO, must_change=True)
        created.append((user_id, password))
    return created
