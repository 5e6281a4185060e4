"""The security log: every password check, lockout, unlock and signed decision, append-only.

Lockout is derived from the log, never stored as a flag: a user is locked when the latest
`MAX_FAILED_ATTEMPTS` password checks since their last success or unlock all failed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, desc, select

from vein2vein.service.db import open_database, security_log

#: Consecutive failed password checks (login or signature) that lock a user (11.300(d)).
MAX_FAILED_ATTEMPTS = 3


class SecurityEvent(StrEnum):
    """What a security log entry records."""

    PASSWORD_OK = "password.ok"
    PASSWORD_FAILED = "password.failed"
    UNKNOWN_USER = "login.unknown_user"
    LOCKED = "user.locked"
    REFUSED_LOCKED = "password.refused_locked"
    UNLOCKED = "user.unlocked"
    DECISION_ACCEPTED = "decision.accepted"
    DECISION_REFUSED = "decision.refused"


_RESETS = (SecurityEvent.PASSWORD_OK, SecurityEvent.UNLOCKED)


class SecurityEntry(BaseModel):
    """One line of the security log."""

    model_config = ConfigDict(frozen=True)

    id: int
    at: datetime
    event: str
    user_id: str | None
    actor: str
    batch_id: str | None = None
    target: str | None = None
    detail: str = ""


class SecurityLog:
    """Append-only log of security-relevant events in the service's database."""

    def __init__(self, db_url: str) -> None:
        self._engine: Engine = open_database(db_url)

    def record(
        self,
        event: SecurityEvent,
        *,
        actor: str,
        user_id: str | None = None,
        batch_id: str | None = None,
        target: str | None = None,
        detail: str = "",
    ) -> None:
        """Append one entry (never a password, never a patient's pseudonym)."""
        with self._engine.begin() as conn:
            conn.execute(
                security_log.insert().values(
                    at=datetime.now(UTC).isoformat(),
                    event=event.value,
                    user_id=user_id,
                    actor=actor,
                    batch_id=batch_id,
                    target=target,
                    detail=detail[:2000],
                )
            )

    def failed_attempts(self, user_id: str) -> int:
        """Failed password checks of `user_id` since their last success or unlock."""
        stmt = (
            select(security_log.c.event)
            .where(
                security_log.c.user_id == user_id,
                security_log.c.event.in_(
                    [SecurityEvent.PASSWORD_FAILED.value, *(e.value for e in _RESETS)]
                ),
            )
            .order_by(desc(security_log.c.id))
            .limit(MAX_FAILED_ATTEMPTS)
        )
        with self._engine.connect() as conn:
            events = list(conn.scalars(stmt))
        failed = 0
        for ev in events:
            if ev != SecurityEvent.PASSWORD_FAILED.value:
                break
            failed += 1
        return failed

    def is_locked(self, user_id: str) -> bool:
        """True when `user_id` has failed `MAX_FAILED_ATTEMPTS` times in a row."""
        return self.failed_attempts(user_id) >= MAX_FAILED_ATTEMPTS

    def entries(self, *, user_id: str | None = None, limit: int = 200) -> list[SecurityEntry]:
        """The newest entries first, optionally of one user."""
        stmt = select(security_log).order_by(desc(security_log.c.id)).limit(limit)
        if user_id is not None:
            stmt = stmt.where(security_log.c.user_id == user_id)
        with self._engine.connect() as conn:
            return [SecurityEntry.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]
