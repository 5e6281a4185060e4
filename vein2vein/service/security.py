"""The security log: password checks, throttling, administration and signed decisions.

Every entry goes to the append-only `security_events` table (shared by every replica) and to
the structlog logger `vein2vein.security`. Entries say who (an authenticated person, a client,
or `system`), what and when; never a password, a token or a patient's pseudonym.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import structlog
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, desc, select

from vein2vein.service.db import open_database, security_log

_log = structlog.get_logger("vein2vein.security")


class SecurityEvent(StrEnum):
    """What a security log entry records."""

    PASSWORD_OK = "password.ok"
    PASSWORD_FAILED = "password.failed"
    UNKNOWN_USER = "login.unknown_user"
    THROTTLED = "password.throttled"
    UNLOCKED = "user.unlocked"
    DECISION_ACCEPTED = "decision.accepted"
    DECISION_REFUSED = "decision.refused"
    USER_ADDED = "user.added"
    PASSWORD_CHANGED = "user.password_changed"
    ROLES_CHANGED = "user.roles_changed"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    USER_REMOVED = "user.removed"
    IDENTITY_LINKED = "user.identity_linked"
    SSO_OK = "sso.ok"
    SSO_REFUSED = "sso.refused"
    USERS_IMPORTED = "users.imported"
    SESSION_OPENED = "session.opened"
    SESSION_ENDED = "session.ended"
    SESSIONS_REVOKED = "session.revoked"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    TOKENS_IMPORTED = "tokens.imported"


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
        """Append one entry (never a password, never a token, never a patient's pseudonym)."""
        at = datetime.now(UTC)
        with self._engine.begin() as conn:
            conn.execute(
                security_log.insert().values(
                    at=at.isoformat(),
                    event=event.value,
                    user_id=user_id,
                    actor=actor,
                    batch_id=batch_id,
                    target=target,
                    detail=detail[:2000],
                )
            )
        _log.info(
            event.value,
            actor=actor,
            user_id=user_id,
            batch_id=batch_id,
            target=target,
            detail=detail[:200],
        )

    def entries(self, *, user_id: str | None = None, limit: int = 200) -> list[SecurityEntry]:
        """The newest entries first, optionally of one user."""
        stmt = select(security_log).order_by(desc(security_log.c.id)).limit(limit)
        if user_id is not None:
            stmt = stmt.where(security_log.c.user_id == user_id)
        with self._engine.connect() as conn:
            return [SecurityEntry.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]
