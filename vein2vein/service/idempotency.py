"""Idempotency-Key handling: a repeated POST returns the first answer and changes nothing.

Keys are scoped by caller (user or integration client). The request is remembered by a keyed
HMAC of its content, so the table never holds a request body (nor a password or pseudonym);
the same key with a different request is refused. Answers below 500 are kept; a server error
releases the key so the caller may retry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError

from vein2vein.service.db import idempotency, open_database

#: What an idempotent action returns: HTTP status and a JSON-able body.
Answer = tuple[int, Any]
REPLAY_HEADER = "Idempotent-Replayed"
#: A first request still unanswered after this long died with its server; its key is freed.
STALE_AFTER = timedelta(minutes=5)
IN_FLIGHT = "a request with this Idempotency-Key is in progress; retry"
OTHER_REQUEST = "this Idempotency-Key was used for a different request; use a new key"


class IdempotencyStore:
    """Idempotency-Key -> first answer, per caller."""

    def __init__(self, db_url: str, secret: bytes) -> None:
        self._engine: Engine = open_database(db_url)
        self._secret = secret

    def fingerprint(self, method: str, path: str, content: Any) -> str:
        """A keyed hash of the request; equal requests give equal fingerprints."""
        canonical = json.dumps(
            [method, path, jsonable_encoder(content)], sort_keys=True, separators=(",", ":")
        )
        return hmac.new(self._secret, canonical.encode(), hashlib.sha256).hexdigest()

    async def run(
        self, caller: str, key: str, fingerprint: str, action: Callable[[], Awaitable[Answer]]
    ) -> JSONResponse:
        """Run `action` once per (caller, key); repeats get the stored answer."""
        status, body, replayed = await self.once(caller, key, fingerprint, action)
        headers = {REPLAY_HEADER: "true"} if replayed else None
        return JSONResponse(body, status_code=status, headers=headers)

    async def once(
        self, caller: str, key: str, fingerprint: str, action: Callable[[], Awaitable[Answer]]
    ) -> tuple[int, Any, bool]:
        """Status, JSON-able body and whether it is a replay of the first answer."""
        stored = self._claim(caller, key, fingerprint)
        if stored is not None:
            return stored
        try:
            status, body = await action()
        except HTTPException as err:
            status, body = err.status_code, {"detail": err.detail}
        except BaseException:
            self._release(caller, key)
            raise
        encoded = jsonable_encoder(body)
        if status >= 500:
            self._release(caller, key)
            return status, encoded, False
        with self._engine.begin() as conn:
            conn.execute(
                update(idempotency)
                .where(idempotency.c.caller == caller, idempotency.c.key == key)
                .values(status=status, body=json.dumps(encoded))
            )
        return status, encoded, False

    def _claim(self, caller: str, key: str, fingerprint: str) -> tuple[int, Any, bool] | None:
        answer = self._try_claim(caller, key, fingerprint)
        if answer is not None and answer[0] == 409 and self._abandoned(caller, key):
            answer = self._try_claim(caller, key, fingerprint)  # its first request died
        return answer

    def _abandoned(self, caller: str, key: str) -> bool:
        """Forget a request left in flight for longer than `STALE_AFTER` (a crashed server)."""
        cutoff = (datetime.now(UTC) - STALE_AFTER).isoformat()
        with self._engine.begin() as conn:
            gone = conn.execute(
                delete(idempotency).where(
                    idempotency.c.caller == caller,
                    idempotency.c.key == key,
                    idempotency.c.status.is_(None),
                    idempotency.c.created_at < cutoff,
                )
            )
        return bool(gone.rowcount)

    def _try_claim(self, caller: str, key: str, fingerprint: str) -> tuple[int, Any, bool] | None:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    idempotency.insert().values(
                        caller=caller,
                        key=key,
                        fingerprint=fingerprint,
                        created_at=datetime.now(UTC).isoformat(),
                    )
                )
            return None
        except IntegrityError:
            pass
        with self._engine.connect() as conn:
            row = conn.execute(
                select(idempotency).where(idempotency.c.caller == caller, idempotency.c.key == key)
            ).first()
        if row is None:  # released meanwhile: the caller may retry
            return 409, {"detail": IN_FLIGHT}, False
        if not hmac.compare_digest(row.fingerprint, fingerprint):
            return 422, {"detail": OTHER_REQUEST}, False
        if row.status is None:
            return 409, {"detail": IN_FLIGHT}, False
        return int(row.status), json.loads(row.body), True

    def _release(self, caller: str, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                delete(idempotency).where(idempotency.c.caller == caller, idempotency.c.key == key)
            )
