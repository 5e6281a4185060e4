"""Scoped API tokens for integration clients (couriers, hospitals, MES, LIMS).

A token is shown once, when created: `v2v_<token id>_<secret>`. The tokens file keeps only a
SHA-256 of the secret (a 256-bit random secret needs no slow hash), the client's name and its
scopes. Each scope allows one kind of traffic; see `SCOPES` and `EVENT_SCOPES`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vein2vein.service.files import TOKENS_FILE, read_json, write_json

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
    """What the tokens file knows of one token."""

    model_config = ConfigDict(frozen=True)

    token_id: str
    client: str = Field(pattern=CLIENT_PATTERN)
    scopes: tuple[str, ...]
    secret_sha256: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """False once revoked."""
        return self.revoked_at is None


class TokenStore:
    """The tokens file: `<data_dir>/tokens.json`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / TOKENS_FILE
        self._cache: tuple[float, dict[str, ApiToken]] | None = None

    def tokens(self) -> dict[str, ApiToken]:
        """Every token (active or revoked) by id."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if self._cache is None or self._cache[0] != mtime:
            raw = read_json(self.path, {"tokens": {}}).get("tokens", {})
            found = {tid: ApiToken.model_validate({"token_id": tid, **b}) for tid, b in raw.items()}
            self._cache = (mtime, found)
        return self._cache[1]

    def create(self, client: str, scopes: list[str] | tuple[str, ...]) -> str:
        """A new token for `client` with `scopes`; returns the plaintext, shown only now."""
        if not re.fullmatch(CLIENT_PATTERN, client):
            raise ValueError(f"invalid client name {client!r}: lowercase letters, digits, . _ -")
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise ValueError(
                f"unknown scope(s) {', '.join(unknown) or '(none given)'}; "
                f"known: {', '.join(SCOPES)}"
            )
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        token = ApiToken(
            token_id=token_id,
            client=client,
            scopes=tuple(sorted(set(scopes))),
            secret_sha256=_digest(secret),
            created_at=datetime.now(UTC),
        )
        self._save(token)
        return f"v2v_{token_id}_{secret}"

    def revoke(self, name_or_id: str) -> int:
        """Revoke the token with this id, or every token of this client; returns how many."""
        revoked = 0
        for token in self.tokens().values():
            if token.active and name_or_id in (token.token_id, token.client):
                self._save(token.model_copy(update={"revoked_at": datetime.now(UTC)}))
                revoked += 1
        return revoked

    def verify(self, presented: str) -> ApiToken | None:
        """The active token `presented` is, or None."""
        match = _TOKEN_RE.fullmatch(presented)
        if match is None:
            return None
        token = self.tokens().get(match.group(1))
        if token is None or not token.active:
            return None
        if not hmac.compare_digest(token.secret_sha256, _digest(match.group(2))):
            return None
        return token

    def _save(self, token: ApiToken) -> None:
        raw = read_json(self.path, {"tokens": {}})
        raw.setdefault("tokens", {})[token.token_id] = token.model_dump(
            mode="json", exclude={"token_id"}
        )
        write_json(self.path, raw)
        self._cache = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
