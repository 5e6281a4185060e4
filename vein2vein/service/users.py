"""People who use vein2vein: roles, argon2 password hashes, and re-authentication with lockout.

Users live in `<data_dir>/users.json` (hashes only). Every password check, at login or at
signing, is written to the security log; `MAX_FAILED_ATTEMPTS` failures in a row lock the user
until an admin unlocks them (`UserStore.unlock`).
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field

from vein2vein.service.files import USERS_FILE, read_json, write_json
from vein2vein.service.security import MAX_FAILED_ATTEMPTS, SecurityEvent, SecurityLog
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
    password_hash: str
    disabled: bool = False
    changed_at: datetime | None = None

    @property
    def generation(self) -> str:
        """Changes whenever the password changes: sessions made before it become invalid."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]

    def holds(self, role: Role) -> bool:
        """True when the user holds `role`."""
        return role in self.roles


class AuthError(Exception):
    """A password check failed; `status` is the HTTP status that says so."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def default_db_url(data_dir: Path) -> str:
    """The database the security log lives in: the ledger's (same rule as `Settings.ledger`)."""
    return (
        os.environ.get("VEIN2VEIN_LEDGER_URL") or f"sqlite:///{(data_dir / 'ledger.db').resolve()}"
    )


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """An argon2id hash of `password`; refuses passwords shorter than the minimum."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return (hasher or _HASHER).hash(password)


def validate_user_id(user_id: str) -> str:
    """`user_id` if it is a valid user id, else ValueError."""
    if not re.fullmatch(USER_ID_PATTERN, user_id):
        raise ValueError(f"invalid user id {user_id!r}: lowercase letters, digits, . _ -")
    return user_id


class UserStore:
    """The users file plus the security log that decides lockout.

    `db_url` names the database of the security log (default: the ledger's, see
    `default_db_url`).
    """

    def __init__(
        self, data_dir: Path, db_url: str | None = None, *, security: SecurityLog | None = None
    ) -> None:
        self.path = data_dir / USERS_FILE
        self._data_dir = data_dir
        self._db_url = db_url
        self._security = security
        self._cache: tuple[float, dict[str, User]] | None = None

    @property
    def security(self) -> SecurityLog:
        """The security log (opened on first use)."""
        if self._security is None:
            self._security = SecurityLog(self._db_url or default_db_url(self._data_dir))
        return self._security

    # -- reading -------------------------------------------------------------------------

    def users(self) -> dict[str, User]:
        """Every user by id (re-read when the file changes)."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if self._cache is None or self._cache[0] != mtime:
            raw = read_json(self.path, {"users": {}}).get("users", {})
            users = {
                uid: User.model_validate({"user_id": uid, **body}) for uid, body in raw.items()
            }
            self._cache = (mtime, users)
        return self._cache[1]

    def get(self, user_id: str) -> User | None:
        """The user `user_id`, or None."""
        return self.users().get(user_id)

    def exists(self) -> bool:
        """True when a users file exists."""
        return self.path.exists()

    # -- writing (administration) ---------------------------------------------------------

    def save(self, user: User) -> None:
        """Add or replace one user."""
        raw = read_json(self.path, {"users": {}})
        body = user.model_dump(mode="json", exclude={"user_id"})
        raw.setdefault("users", {})[user.user_id] = body
        write_json(self.path, raw)
        self._cache = None

    # -- authentication -------------------------------------------------------------------

    def authenticate(self, user_id: str, password: str, *, purpose: str) -> User:
        """The user, if `password` is theirs and they are not locked; else `AuthError`.

        Every outcome is recorded; the failure that reaches the limit locks the user.
        """
        user = self.get(user_id)
        if user is None or user.disabled:
            self.security.record(
                SecurityEvent.UNKNOWN_USER, actor=user_id[:80], detail=f"{purpose}: no such user"
            )
            raise AuthError("unknown user or wrong password")
        if self.security.is_locked(user_id):
            self.security.record(
                SecurityEvent.REFUSED_LOCKED, actor=user_id, user_id=user_id, detail=purpose
            )
            raise AuthError(
                f"{user_id} is locked after {MAX_FAILED_ATTEMPTS} failed attempts; "
                "an administrator must unlock the account",
                status=423,
            )
        if not _verify(user.password_hash, password):
            self.security.record(
                SecurityEvent.PASSWORD_FAILED, actor=user_id, user_id=user_id, detail=purpose
            )
            failed = self.security.failed_attempts(user_id)
            if failed >= MAX_FAILED_ATTEMPTS:
                self.security.record(
                    SecurityEvent.LOCKED,
                    actor="system",
                    user_id=user_id,
                    detail=f"{failed} failed attempts in a row",
                )
                raise AuthError(
                    f"wrong password; {user_id} is now locked after {failed} failed attempts",
                    status=423,
                )
            left = MAX_FAILED_ATTEMPTS - failed
            raise AuthError(f"wrong password; {left} attempt(s) left before the account locks")
        self.security.record(
            SecurityEvent.PASSWORD_OK, actor=user_id, user_id=user_id, detail=purpose
        )
        return user

    def check_signer(self, signer_id: str, password: str, role: Role) -> str | None:
        """Why `signer_id` may not sign as `role` with `password`, or None if they may."""
        try:
            user = self.authenticate(signer_id, password, purpose="signature")
        except AuthError as err:
            return err.message
        if not user.holds(role):
            return f"{signer_id} does not hold the role {role.value}"
        return None

    def is_locked(self, user_id: str) -> bool:
        """True when `user_id` is locked out."""
        return self.security.is_locked(user_id)

    def unlock(self, user_id: str, *, by: str) -> bool:
        """Unlock `user_id` (recorded with who did it); False if they were not locked."""
        if self.get(user_id) is None:
            raise KeyError(user_id)
        if not self.is_locked(user_id):
            return False
        self.security.record(SecurityEvent.UNLOCKED, actor=by, user_id=user_id, detail="unlocked")
        return True


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
