"""Throttling of failed sign-ins, per account name and per client address, in the database.

A hard lockout lets anyone lock any account (the admin's too) by typing wrong passwords; a
throttle only slows guessing. After `ACCOUNT_FREE_FAILURES` failures in a row for a name (known
or not: an unknown name must not behave differently) and after `ADDRESS_FREE_FAILURES` from one
address (higher: a plant's clients may share one address), each further failure blocks the
next attempt for 2^n seconds, capped at `MAX_DELAY`. Counters start again after `FORGET_AFTER`
without failures. A success clears the account's counter, never the address's (else an
attacker with one account of their own could reset it between guesses at other accounts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.exc import IntegrityError

from vein2vein.service.db import login_throttle, open_database

ACCOUNT_FREE_FAILURES = 3
ADDRESS_FREE_FAILURES = 10
MAX_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)


def account_key(user_id: str) -> str:
    """The throttle key of an account name as typed (hashed: a password typed into the name
    field must not be stored)."""
    digest = hashlib.sha256(user_id.strip().lower().encode()).hexdigest()[:32]
    return f"account:{digest}"


def address_key(address: str) -> str:
    """The throttle key of a client address."""
    return f"address:{address[:64]}"


def backoff(failures: int, free: int) -> timedelta:
    """How long the next attempt waits after `failures` in a row (none up to `free`)."""
    if failures < free:
        return timedelta(0)
    return min(timedelta(seconds=2 ** (failures - free + 3)), MAX_DELAY)


@dataclass(frozen=True)
class Blocked:
    """An attempt refused by the throttle; `retry_after` in whole seconds."""

    retry_after: int


class LoginThrottle:
    """Failure counters in `service_login_throttle`, shared by every replica."""

    def __init__(self, db_url: str) -> None:
        self._engine: Engine = open_database(db_url)

    def blocked(self, *keys: str, now: datetime | None = None) -> Blocked | None:
        """Whether any of `keys` must wait before the next attempt, and how long."""
        now = now or datetime.now(UTC)
        stmt = select(login_throttle.c.blocked_until).where(login_throttle.c.key.in_(keys))
        with self._engine.connect() as conn:
            until = [datetime.fromisoformat(u) for u in conn.scalars(stmt) if u]
        latest = max(until, default=None)
        if latest is None or latest <= now:
            return None
        return Blocked(retry_after=max(1, int((latest - now).total_seconds() + 0.999)))

    def failed(self, key: str, free: int, now: datetime | None = None) -> int:
        """Count one failure for `key`; returns the failures in a row."""
        now = now or datetime.now(UTC)
        with self._engine.begin() as conn:
            row = conn.execute(
                select(login_throttle.c.failures, login_throttle.c.last_failure_at).where(
                    login_throttle.c.key == key
                )
            ).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            login_throttle.insert().values(
                                key=key, failures=1, last_failure_at=now.isoformat()
                            )
                        )
                    failures = 1
                except IntegrityError:  # another replica counted the first failure meanwhile
                    failures = self._increment(conn, key, now)
            elif now - datetime.fromisoformat(row.last_failure_at) > FORGET_AFTER:
                conn.execute(
                    update(login_throttle)
                    .where(login_throttle.c.key == key)
                    .values(failures=1, last_failure_at=now.isoformat(), blocked_until=None)
                )
                failures = 1
            else:
                failures = self._increment(conn, key, now)
            wait = backoff(failures, free)
            if wait:
                conn.execute(
                    update(login_throttle)
                    .where(login_throttle.c.key == key)
                    .values(blocked_until=(now + wait).isoformat())
                )
        return failures

    @staticmethod
    def _increment(conn: Connection, key: str, now: datetime) -> int:
        # Atomic in the database: two replicas counting at once both count.
        conn.execute(
            update(login_throttle)
            .where(login_throttle.c.key == key)
            .values(failures=login_throttle.c.failures + 1, last_failure_at=now.isoformat())
        )
        return int(
            conn.scalar(select(login_throttle.c.failures).where(login_throttle.c.key == key)) or 0
        )

    def failures(self, key: str) -> int:
        """The failures in a row counted for `key` (0 when forgotten or cleared)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(login_throttle.c.failures, login_throttle.c.last_failure_at).where(
                    login_throttle.c.key == key
                )
            ).first()
        if row is None:
            return 0
        if datetime.now(UTC) - datetime.fromisoformat(row.last_failure_at) > FORGET_AFTER:
            return 0
        return int(row.failures)

    def clear(self, key: str) -> bool:
        """Forget `key`'s failures; True if there were any."""
        with self._engine.begin() as conn:
            return bool(
                conn.execute(delete(login_throttle).where(login_throttle.c.key == key)).rowcount
            )
