"""People who use vein2vein: roles, argon2 password hashes, external identities.

Users live in the service's database (`service_users`), so every replica sees the same people.
This module reads and writes rows; it checks nothing about who asks. Administration (who may
change what, and the security log) is `vein2vein.service.admin`; passwords are checked by
`vein2vein.service.authn`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from vein2vein.service.db import open_database, user_identities, users
from workflows.model import Role

USER_ID_PATTERN = r"^[a-z][a-z0-9._-]{1,39}$"
MIN_PASSWORD_LENGTH = 8
_HASHER = PasswordHasher()


class User(BaseModel):
    """A person with roles; `printed_name` is what their signatures show (11.50)."""

    model_config = ConfigDict(frozen=True)

    user_id: str = Field(pattern=USER_ID_PATTERN)
    printed_name: str = Field(min_length=1, max_length=120)
    roles: tuple[Role, ...]
    #: None: no password sign-in (an external identity only, or removed).
    password_hash: str | None = None
    disabled: bool = False
    created_at: datetime | None = None
    changed_at: datetime | None = None
    removed_at: datetime | None = None
    #: True while the password is one somebody else chose (an admin, the demonstration): the
    #: user must choose their own before anything else, and may not sign until then.
    must_change_password: bool = False

    def holds(self, role: Role) -> bool:
        """True when the user holds `role`."""
        return role in self.roles

    @property
    def active(self) -> bool:
        """True when the user may sign in: neither disabled nor removed."""
        return not self.disabled and self.removed_at is None


def now_iso() -> str:
    """The current UTC time as the service's tables store it."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """An argon2id hash of `password`; refuses passwords shorter than the minimum."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return (hasher or _HASHER).hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches `password_hash` (argon2 compares in constant time)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def validate_user_id(user_id: str) -> str:
    """`user_id` if it is a valid user id, else ValueError."""
    if not re.fullmatch(USER_ID_PATTERN, user_id):
        raise ValueError(f"invalid user id {user_id!r}: lowercase letters, digits, . _ -")
    return user_id


def parse_roles(roles: Any) -> tuple[Role, ...]:
    """Roles from values or names, without repeats; ValueError if unknown or none."""
    try:
        parsed = tuple(dict.fromkeys(Role(r) for r in roles))
    except ValueError as err:
        raise ValueError(f"{err}; roles: {', '.join(r.value for r in Role)}") from None
    if not parsed:
        raise ValueError("a user needs at least one role")
    return parsed


def _row_to_user(row: Any) -> User:
    m = dict(row._mapping)
    roles = tuple(Role(r) for r in m.pop("roles").split(",") if r)
    flags = {k: bool(m[k]) for k in ("disabled", "must_change_password")}
    return User.model_validate({**m, "roles": roles, **flags})


class UserStore:
    """The `service_users` table (and external identities) of one database."""

    def __init__(self, db_url: str) -> None:
        self._engine: Engine = open_database(db_url)

    def get(self, user_id: str) -> User | None:
        """The user `user_id` (removed ones too), or None."""
        with self._engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.user_id == user_id)).first()
        return None if row is None else _row_to_user(row)

    def users(self) -> dict[str, User]:
        """Every user not removed, by id."""
        stmt = select(users).where(users.c.removed_at.is_(None)).order_by(users.c.user_id)
        with self._engine.connect() as conn:
            return {u.user_id: u for u in map(_row_to_user, conn.execute(stmt))}

    def count(self) -> int:
        """How many rows the table holds (removed users too): 0 means nobody was ever added."""
        with self._engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(users)) or 0)

    def insert(self, user: User) -> None:
        """Add `user`; ValueError if the id was ever taken (ids are never reused)."""
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    users.insert().values(
                        user_id=user.user_id,
                        printed_name=user.printed_name,
                        roles=",".join(r.value for r in user.roles),
                        password_hash=user.password_hash,
                        disabled=user.disabled,
                        must_change_password=user.must_change_password,
                        created_at=(user.created_at or datetime.now(UTC)).isoformat(),
                        changed_at=user.changed_at.isoformat() if user.changed_at else None,
                    )
                )
        except IntegrityError:
            raise ValueError(f"user {user.user_id} already exists") from None

    def change(self, user_id: str, **values: Any) -> None:
        """Set columns of one user (roles as a tuple); KeyError if there is no such user."""
        if "roles" in values:
            values["roles"] = ",".join(Role(r).value for r in values["roles"])
        with self._engine.begin() as conn:
            done = conn.execute(
                update(users)
                .where(users.c.user_id == user_id)
                .values(**values, changed_at=now_iso())
            )
        if not done.rowcount:
            raise KeyError(user_id)

    def link_identity(self, issuer: str, subject: str, user_id: str, *, by: str) -> None:
        """Map the external identity (issuer, subject) to `user_id` (for single sign-on)."""
        with self._engine.begin() as conn:
            conn.execute(
                user_identities.insert().values(
                    issuer=issuer,
                    subject=subject,
                    user_id=user_id,
                    linked_at=now_iso(),
                    linked_by=by,
                )
            )

    def by_identity(self, issuer: str, subject: str) -> User | None:
        """The user an external identity is mapped to, or None."""
        stmt = select(user_identities.c.user_id).where(
            user_identities.c.issuer == issuer, user_identities.c.subject == subject
        )
        with self._engine.connect() as conn:
            user_id = conn.scalar(stmt)
        return None if user_id is None else self.get(str(user_id))
