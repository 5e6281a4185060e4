"""Scoped API tokens for integration clients (couriers, hospitals, MES, LIMS).

A token is shown once, when created: `v2v_<token id>_<secret>`. The `service_api_tokens` table
(shared by every replica) keeps only a SHA-256 of the secret (a 256-bit random secret needs no
slow hash), the client's name, its scopes, its expiry and optionally the one site it speaks for.
Each scope allows one kind of traffic; see `SCOPES` and `EVENT_SCOPES`. Administration (who may
create and revoke, and the security log) is `vein2vein.service.admin`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select, update

from vein2vein.service.db import api_tokens, open_database
from vein2vein.service.users import now_iso

#: Every scope a token may carry, and what it allows.
SCOPES: dict[str, str] = {
    "read": "read batches: status, records, products",
    "orders": "start batches from treatment orders",
    "custody": "courier and custody events: pickup, delivery, receipt scans with temperature",
    "hospital": "treatment-centre events: collection, availability, bedside scans, infusion",
    "mes": "manufacturing execution system: step completions",
    "results": "LIMS: assay results",
    "tasks": "complete or fail tasks handed to an external system",
}

#: Event type (exact, or prefix ending in ".") -> scopes that may report it.
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "custody": frozenset({"custody", "hospital"}),
    "courier.": frozenset({"custody"}),
    "lims.": frozenset({"results"}),
    "mes.": frozenset({"mes"}),
    "collection.": frozenset({"hospital"}),
    "centre.": frozenset({"hospital"}),
    "hospital.": frozenset({"hospital"}),
}

CLIENT_PATTERN = r"^[a-z][a-z0-9._-]{1,39}$"
SITE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
DEFAULT_EXPIRY_DAYS = 90
MAX_EXPIRY_DAYS = 730
_TOKEN_RE = re.compile(r"^v2v_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")


def scopes_for_event(event_type: str) -> frozenset[str]:
    """The scopes allowed to report `event_type` (empty: no integration client may)."""
    if event_type in EVENT_SCOPES:
        return EVENT_SCOPES[event_type]
    for prefix, scopes in EVENT_SCOPES.items():
        if prefix.endswith(".") and event_type.startswith(prefix):
            return scopes
    return frozenset()


class ApiToken(BaseModel):
    """What the service knows of one token (never its secret)."""

    model_config = ConfigDict(frozen=True)

    token_id: str
    client: str = Field(pattern=CLIENT_PATTERN)
    scopes: tuple[str, ...]
    secret_sha256: str
    #: The one site this client speaks for; None: any site.
    site: str | None = None
    created_at: datetime
    created_by: str = ""
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        """False once revoked or expired."""
        return self.revoked_at is None and datetime.now(UTC) < self.expires_at

    @property
    def state(self) -> str:
        """active, revoked or expired."""
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.active else "expired"


def _row_to_token(row: Any) -> ApiToken:
    m = dict(row._mapping)
    return ApiToken.model_validate({**m, "scopes": tuple(m["scopes"].split(","))})


def check_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The scopes sorted without repeats; ValueError if unknown or none."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(
            f"unknown scope(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(SCOPES)}"
        )
    return tuple(sorted(set(scopes)))


def token_request_problem(
    client: str, scopes: list[str] | tuple[str, ...], expires_days: int, site: str | None
) -> None:
    """Refuse a token request that cannot be granted (`ValueError` saying why), before anyone
    is asked for a password and before anything is written."""
    if not re.fullmatch(CLIENT_PATTERN, client):
        raise ValueError(f"invalid client name {client!r}: lowercase letters, digits, . _ -")
    if not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise ValueError(f"a token expires after 1 to {MAX_EXPIRY_DAYS} days")
    if site is not None and not re.fullmatch(SITE_PATTERN, site):
        raise ValueError(f"invalid site {site!r}")
    check_scopes(scopes)


class TokenStore:
    """The `service_api_tokens` table."""

    def __init__(self, db_url: str) -> None:
        self._engine: Engine = open_database(db_url)

    def tokens(self) -> dict[str, ApiToken]:
        """Every token (active, expired or revoked) by id, oldest first."""
        stmt = select(api_tokens).order_by(api_tokens.c.created_at)
        with self._engine.connect() as conn:
            return {t.token_id: t for t in map(_row_to_token, conn.execute(stmt))}

    def create(
        self,
        client: str,
        scopes: list[str] | tuple[str, ...],
        *,
        by: str,
        expires_days: int = DEFAULT_EXPIRY_DAYS,
        site: str | None = None,
    ) -> tuple[str, ApiToken]:
        """A new token for `client`; returns the plaintext (shown only now) and the token."""
        token_request_problem(client, scopes, expires_days, site)
        now = datetime.now(UTC)
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        token = ApiToken(
            token_id=token_id,
            client=client,
            scopes=check_scopes(scopes),
            secret_sha256=_digest(secret),
            site=site,
            created_at=now,
            created_by=by,
            expires_at=now + timedelta(days=expires_days),
        )
        self.insert(token)
        return f"v2v_{token_id}_{secret}", token

    def insert(self, token: ApiToken) -> None:
        """Store `token` as it is (creation and the one-time import)."""
        values = token.model_dump(mode="json")
        values["scopes"] = ",".join(token.scopes)
        for name in ("created_at", "expires_at", "revoked_at"):
            moment = getattr(token, name)
            values[name] = moment.isoformat() if moment is not None else None
        with self._engine.begin() as conn:
            conn.execute(api_tokens.insert().values(**values))

    def revoke(self, name_or_id: str, *, by: str) -> list[ApiToken]:
        """Revoke the token with this id, or every token of this client; returns those revoked."""
        matching = [
            t
            for t in self.tokens().values()
            if t.revoked_at is None and name_or_id in (t.token_id, t.client)
        ]
        with self._engine.begin() as conn:
            for token in matching:
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.token_id == token.token_id)
                    .values(revoked_at=now_iso(), revoked_by=by)
                )
        return matching

    def verify(self, presented: str) -> ApiToken | None:
        """The active (unrevoked, unexpired) token `presented` is, or None."""
        match = _TOKEN_RE.fullmatch(presented)
        if match is None:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(
                select(api_tokens).where(api_tokens.c.token_id == match.group(1))
            ).first()
        if row is None:
            return None
        token = _row_to_token(row)
        if not hmac.compare_digest(token.secret_sha256, _digest(match.group(2))):
            return None
        return token if token.active else None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
