"""Console sessions kept in the service's database: revocable, expiring, shared by replicas.

The cookie holds only an opaque random id; the table keeps its SHA-256 (a 256-bit random id
needs no slow hash), so a copy of the table opens no session. A session ends at logout, when
an administrator revokes the user's sessions, when the user's password changes or the user is
disabled or removed, after `IDLE_TIMEOUT` without a request and at the latest `ABSOLUTE_TIMEOUT`
after sign-in. Each session records how the person was authenticated (`method`), so single
sign-on can add its own.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update

from vein2vein.service.db import open_database, sessions
from vein2vein.service.users import now_iso

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=8)
#: `last_seen_at` is written at most this often, not on every request.
TOUCH_EVERY = timedelta(seconds=60)
PASSWORD = "password"


def session_hash(session_id: str) -> str:
    """What the table keeps of a session id."""
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """A live session: whose, how authenticated, and its key for anti-forgery tokens."""

    id_sha256: str
    user_id: str
    method: str
    created_at: datetime
    expires_at: datetime


class SessionStore:
    """The `service_sessions` table."""

    def __init__(
        self,
        db_url: str,
        *,
        idle: timedelta = IDLE_TIMEOUT,
        absolute: timedelta = ABSOLUTE_TIMEOUT,
    ) -> None:
        self._engine: Engine = open_database(db_url)
        self.idle = idle
        self.absolute = absolute

    def open(self, user_id: str, *, method: str = PASSWORD, address: str = "") -> str:
        """A new session for `user_id`; returns the cookie value, which is never stored."""
        session_id = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            conn.execute(
                sessions.insert().values(
                    id_sha256=session_hash(session_id),
                    user_id=user_id,
                    method=method,
                    address=address[:64],
                    created_at=now.isoformat(),
                    last_seen_at=now.isoformat(),
                    expires_at=(now + self.absolute).isoformat(),
                )
            )
        return session_id

    def read(self, session_id: str | None) -> Session | None:
        """The live session `session_id` names, or None (unknown, revoked, idle or expired)."""
        if not session_id or len(session_id) > 200:
            return None
        digest = session_hash(session_id)
        with self._engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.id_sha256 == digest)).first()
        if row is None or row.revoked_at is not None:
            return None
        now = datetime.now(UTC)
        last_seen = datetime.fromisoformat(row.last_seen_at)
        expires = datetime.fromisoformat(row.expires_at)
        if now >= expires or now - last_seen >= self.idle:
            return None
        if now - last_seen >= TOUCH_EVERY:
            with self._engine.begin() as conn:
                conn.execute(
                    update(sessions)
                    .where(sessions.c.id_sha256 == digest)
                    .values(last_seen_at=now.isoformat())
                )
        return Session(
            id_sha256=digest,
            user_id=row.user_id,
            method=row.method,
            created_at=datetime.fromisoformat(row.created_at),
            expires_at=expires,
        )

    def revoke(self, session_id: str, *, by: str) -> bool:
        """End one session (logout); True if it was live."""
        return self._revoke(sessions.c.id_sha256 == session_hash(session_id), by) > 0

    def revoke_user(self, user_id: str, *, by: str) -> int:
        """End every session of `user_id`; returns how many were live."""
        return self._revoke(sessions.c.user_id == user_id, by)

    def live_count(self, user_id: str) -> int:
        """How many sessions of `user_id` are neither revoked nor expired."""
        now = datetime.now(UTC)
        stmt = select(sessions.c.last_seen_at, sessions.c.expires_at).where(
            sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return sum(
            1
            for r in rows
            if datetime.fromisoformat(r.expires_at) > now
            and now - datetime.fromisoformat(r.last_seen_at) < self.idle
        )

    def _revoke(self, where: object, by: str) -> int:
        with self._engine.begin() as conn:
            done = conn.execute(
                update(sessions)
                .where(where, sessions.c.revoked_at.is_(None))  # type: ignore[arg-type]
                .values(revoked_at=now_iso(), revoked_by=by)
            )
        return int(done.rowcount)
