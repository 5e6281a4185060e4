"""Single sign-on with OpenID Connect: the provider, its pending requests, and who signs in.

authlib does the protocol: discovery (`/.well-known/openid-configuration`), the authorization
code flow with PKCE (S256), state and nonce, the token exchange, and the ID token's signature
(the provider's JWKS), issuer, audience, expiry and nonce. This module keeps what authlib
leaves to the application:

- the requests sent to the provider and not yet answered, in the database
  (`service_oidc_requests`), so the callback may reach any replica; each is bound to the
  browser that started it (login) or to its session (signing), expires after
  `REQUEST_LIFETIME`, and is taken once;
- who the person is: (issuer, subject) through `service_user_identities`; an unknown subject
  becomes a user only if the provider's groups map to at least one role, and the roles follow
  the groups at every sign-in (`VEIN2VEIN_OIDC_GROUP_ROLES`).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.integrations.starlette_client import OAuth
from sqlalchemy import Engine, delete, select

from vein2vein.service.db import oidc_requests, open_database
from vein2vein.service.identity import Identity
from vein2vein.service.security import SecurityEvent
from vein2vein.service.users import USER_ID_PATTERN, User, now_iso
from vein2vein.settings import OidcSettings
from workflows.model import Role

#: The session method of a person who signed in at the identity provider.
OIDC = "oidc"
#: The actor of users made and roles changed by a sign-in at the provider.
SYSTEM = "system:oidc"
#: How long a request sent to the provider waits for its answer.
REQUEST_LIFETIME = timedelta(minutes=10)
#: Clock difference allowed between the provider and the service, in seconds.
LEEWAY = 60
_SCOPE = "openid profile email"


class OidcError(Exception):
    """A sign-in at the provider cannot be accepted; the message says why (no secrets)."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Pending:
    """A request sent to the provider: what the callback needs to check and finish it."""

    purpose: str
    binding: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    payload: dict[str, Any]
    created_at: datetime


def digest(value: str) -> str:
    """What the tables keep of a state or a binding cookie."""
    return hashlib.sha256(value.encode()).hexdigest()


class OidcRequests:
    """The `service_oidc_requests` table."""

    def __init__(self, db_url: str) -> None:
        self._engine: Engine = open_database(db_url)

    def put(self, state: str, pending: Pending) -> None:
        """Keep `pending` under `state` (and drop requests nobody answered in time)."""
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            conn.execute(delete(oidc_requests).where(oidc_requests.c.expires_at < now.isoformat()))
            conn.execute(
                oidc_requests.insert().values(
                    state_sha256=digest(state),
                    purpose=pending.purpose,
                    binding=pending.binding,
                    nonce=pending.nonce,
                    code_verifier=pending.code_verifier,
                    redirect_uri=pending.redirect_uri,
                    payload=json.dumps(pending.payload),
                    created_at=now.isoformat(),
                    expires_at=(now + REQUEST_LIFETIME).isoformat(),
                )
            )

    def take(self, state: str) -> Pending | None:
        """The live request `state` names, removed so that it cannot be answered twice."""
        if not state or len(state) > 200:
            return None
        key = digest(state)
        with self._engine.begin() as conn:
            row = conn.execute(
                select(oidc_requests).where(oidc_requests.c.state_sha256 == key)
            ).first()
            taken = conn.execute(delete(oidc_requests).where(oidc_requests.c.state_sha256 == key))
        if row is None or taken.rowcount != 1 or row.expires_at < now_iso():
            return None
        return Pending(
            purpose=row.purpose,
            binding=row.binding,
            nonce=row.nonce,
            code_verifier=row.code_verifier,
            redirect_uri=row.redirect_uri,
            payload=json.loads(row.payload),
            created_at=datetime.fromisoformat(row.created_at),
        )


class OidcProvider:
    """The configured identity provider, spoken to through authlib."""

    def __init__(self, settings: OidcSettings, db_url: str) -> None:
        self.settings = settings
        self.requests = OidcRequests(db_url)
        oauth = OAuth()
        self._client: Any = oauth.register(
            name="sso",
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": _SCOPE, "code_challenge_method": "S256"},
        )

    async def _metadata(self) -> dict[str, Any]:
        try:
            metadata: dict[str, Any] = await self._client.load_server_metadata()
        except Exception as err:  # the provider is down or answers nonsense
            raise OidcError(f"the identity provider cannot be reached ({err})", 503) from err
        # Discovery must name the issuer we trust, or tokens would be checked against another.
        if metadata.get("issuer", "").rstrip("/") != self.settings.issuer:
            raise OidcError("the identity provider's discovery names another issuer", 503)
        return metadata

    async def start(
        self, purpose: str, binding: str, redirect_uri: str, payload: dict[str, Any], **extra: Any
    ) -> str:
        """Keep a new request and return the provider's authorization URL to redirect to;
        `extra` adds parameters (`prompt`, `max_age`)."""
        await self._metadata()
        made = await self._client.create_authorization_url(redirect_uri, **extra)
        self.requests.put(
            made["state"],
            Pending(
                purpose=purpose,
                binding=binding,
                nonce=made["nonce"],
                code_verifier=made["code_verifier"],
                redirect_uri=redirect_uri,
                payload=payload,
                created_at=datetime.now(UTC),
            ),
        )
        return str(made["url"])

    async def claims(self, code: str, pending: Pending) -> dict[str, Any]:
        """Exchange `code` (with the PKCE verifier) and return the ID token's validated claims:
        signature, issuer, audience, expiry, nonce (authlib)."""
        await self._metadata()
        try:
            token = await self._client.fetch_access_token(
                redirect_uri=pending.redirect_uri, code=code, code_verifier=pending.code_verifier
            )
            claims = await self._client.parse_id_token(
                token,
                nonce=pending.nonce,
                claims_options={
                    "iss": {"essential": True, "value": self.settings.issuer},
                    "aud": {"essential": True, "value": self.settings.client_id},
                    "sub": {"essential": True},
                },
                leeway=LEEWAY,
            )
        except Exception as err:  # authlib's and joserfc's errors say which check failed
            raise OidcError(f"the identity provider's answer was refused: {err}", 401) from err
        if claims is None:
            raise OidcError("the identity provider sent no ID token", 401)
        return dict(claims)

    def roles_for(self, claims: dict[str, Any]) -> tuple[Role, ...]:
        """The roles the provider's groups grant (`VEIN2VEIN_OIDC_GROUP_ROLES`)."""
        groups = claims.get(self.settings.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        found: list[Role] = []
        for group in groups if isinstance(groups, list) else []:
            found += [Role(r) for r in self.settings.group_roles.get(str(group), ())]
        return tuple(dict.fromkeys(found))


def sign_in(identity: Identity, provider: OidcProvider, claims: dict[str, Any]) -> User:
    """The user the validated `claims` name, made on first sign-in and with roles refreshed
    from the groups; `OidcError` if the groups grant no role or the user may not sign in."""
    issuer, subject = provider.settings.issuer, str(claims["sub"])
    roles = provider.roles_for(claims)
    user = identity.users.by_identity(issuer, subject)

    def refuse(reason: str) -> OidcError:
        who = user.user_id if user else None
        identity.security.record(
            SecurityEvent.SSO_REFUSED,
            actor=who or SYSTEM,
            user_id=who,
            target=issuer,
            detail=reason,
        )
        return OidcError(reason)

    if user is not None and not user.active:
        raise refuse(f"{user.user_id} is disabled or removed")
    if not roles:
        raise refuse(
            f"your groups at {provider.settings.name} grant no vein2vein role;"
            " ask an administrator to map one"
        )
    if user is None:
        user = _first_sign_in(identity, provider, claims, roles)
    elif set(roles) != set(user.roles):
        identity.users.change(user.user_id, roles=roles)
        identity.security.record(
            SecurityEvent.ROLES_CHANGED,
            actor=SYSTEM,
            user_id=user.user_id,
            detail=f"from groups at {issuer}: {_names(user.roles)} -> {_names(roles)}",
        )
        user = identity.users.get(user.user_id) or user
    identity.security.record(
        SecurityEvent.SSO_OK, actor=user.user_id, user_id=user.user_id, target=issuer
    )
    return user


def _names(roles: tuple[Role, ...]) -> str:
    return ", ".join(r.value for r in roles)


def _first_sign_in(
    identity: Identity, provider: OidcProvider, claims: dict[str, Any], roles: tuple[Role, ...]
) -> User:
    issuer, subject = provider.settings.issuer, str(claims["sub"])
    printed = str(claims.get("name") or claims.get("preferred_username") or subject)[:120]
    base = _id_base(claims)
    for n in range(1, 1000):
        # Never take over an existing (local) user of the same name: a suffix instead.
        user_id = base if n == 1 else f"{base[:35]}-{n}"
        if identity.users.get(user_id) is not None:
            continue
        user = User(
            user_id=user_id,
            printed_name=printed.strip() or user_id,
            roles=roles,
            created_at=datetime.now(UTC),
        )
        try:
            identity.users.insert(user)
        except ValueError:  # another replica took the id meanwhile
            continue
        identity.users.link_identity(issuer, subject, user_id, by=SYSTEM)
        identity.security.record(
            SecurityEvent.USER_ADDED,
            actor=SYSTEM,
            user_id=user_id,
            detail=f"first sign-in through {issuer}; roles {_names(roles)}",
        )
        identity.security.record(
            SecurityEvent.IDENTITY_LINKED, actor=SYSTEM, user_id=user_id, target=issuer
        )
        return user
    raise OidcError("no free user id for this person")


def _id_base(claims: dict[str, Any]) -> str:
    for claim in ("preferred_username", "email"):
        raw = str(claims.get(claim) or "").split("@")[0].lower()
        cleaned = re.sub(r"[^a-z0-9._-]+", "-", raw).strip("-._")
        if cleaned and not cleaned[0].isalpha():
            cleaned = f"u-{cleaned}"
        if re.fullmatch(USER_ID_PATTERN, cleaned[:40]):
            return cleaned[:40]
    return f"sso-{secrets.token_hex(4)}"
