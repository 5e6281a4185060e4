"""Password checks at sign-in and at signing (11.200): throttled, recorded, uniform.

An unknown name, a disabled or removed user and a wrong password get the same answer after
the same work (an argon2 verification against a dummy hash when there is no real one), so the
answer does not tell which names exist. Failures are throttled per name and per client address
(`vein2vein.service.throttle`); a throttled attempt is refused before any password is checked.
"""

from __future__ import annotations

import functools

from vein2vein.service.security import SecurityEvent, SecurityLog
from vein2vein.service.throttle import (
    ACCOUNT_FREE_FAILURES,
    ADDRESS_FREE_FAILURES,
    LoginThrottle,
    account_key,
    address_key,
)
from vein2vein.service.users import User, UserStore, hash_password, verify_password
from workflows.model import Role

WRONG = "unknown user or wrong password"


def must_change_message(user_id: str) -> str:
    """Why a user whose password somebody else chose may not sign yet."""
    return (
        f"{user_id} must first replace the password an administrator set: sign in to the"
        " console, which asks for a new one (/console/password); no signature until then"
    )


class AuthError(Exception):
    """A password check failed; `status` is the HTTP status that says so."""

    def __init__(self, message: str, status: int = 401, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


@functools.cache
def _dummy_hash() -> str:
    # Made with the default parameters, as real users' hashes are.
    return hash_password("vein2vein-no-such-user")


class Authenticator:
    """Checks passwords against the user store, under the throttle, into the security log."""

    def __init__(self, users: UserStore, throttle: LoginThrottle, security: SecurityLog) -> None:
        self.users = users
        self.throttle = throttle
        self.security = security

    def authenticate(
        self, user_id: str, password: str, *, purpose: str, address: str | None = None
    ) -> User:
        """The user, if `password` is theirs and they may sign in; else `AuthError`.

        `address` is the client's network address (sign-in); None where there is none to
        throttle by (re-authentication in a session, the CLI): then only the name is throttled.
        Every outcome is recorded (never the password).
        """
        account = account_key(user_id)
        keys = [account] if address is None else [account, address_key(address)]
        where = f" from {address[:64]}" if address else ""
        blocked = self.throttle.blocked(*keys)
        if blocked is not None:
            self.security.record(
                SecurityEvent.THROTTLED,
                actor=user_id[:80],
                user_id=user_id[:80],
                detail=f"{purpose}{where}: retry after {blocked.retry_after} s",
            )
            raise AuthError(
                f"too many failed attempts; try again in {blocked.retry_after} s",
                status=429,
                retry_after=blocked.retry_after,
            )
        user = self.users.get(user_id)
        known = user is not None and user.active and user.password_hash is not None
        stored = user.password_hash if known and user is not None else None
        # Verify even without a real hash: the same work whether or not the name exists.
        matches = verify_password(stored or _dummy_hash(), password) and stored is not None
        if user is None or not matches or not known:
            self.throttle.failed(account, ACCOUNT_FREE_FAILURES)
            if address is not None:
                self.throttle.failed(address_key(address), ADDRESS_FREE_FAILURES)
            if known:
                event, detail = SecurityEvent.PASSWORD_FAILED, purpose
            else:
                event, detail = SecurityEvent.UNKNOWN_USER, f"{purpose}: no such active user"
            self.security.record(
                event, actor=user_id[:80], user_id=user_id[:80], detail=f"{detail}{where}"
            )
            raise AuthError(WRONG)
        self.throttle.clear(account)
        self.security.record(
            SecurityEvent.PASSWORD_OK, actor=user.user_id, user_id=user.user_id, detail=purpose
        )
        return user

    def check_signer(self, signer_id: str, password: str, role: Role) -> str | None:
        """Why `signer_id` may not sign as `role` with `password`, or None if they may."""
        try:
            user = self.authenticate(signer_id, password, purpose="signature")
        except AuthError as err:
            return err.message
        if user.must_change_password:
            return must_change_message(user.user_id)
        if not user.holds(role):
            return f"{signer_id} does not hold the role {role.value}"
        return None

    def failures(self, user_id: str) -> int:
        """Failed attempts in a row counted against the name `user_id`."""
        return self.throttle.failures(account_key(user_id))

    def is_throttled(self, user_id: str) -> bool:
        """True when the next attempt for `user_id` must wait."""
        return self.throttle.blocked(account_key(user_id)) is not None
