"""Who is calling: integration clients by scoped bearer token, people by signed session cookie.

Anything unauthenticated gets 401; authenticated but not allowed gets 403. Console pages
redirect to the login page instead of answering 401.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict

from vein2vein.service.context import ServiceContext, get_context
from vein2vein.service.users import User
from workflows.model import Role

SESSION_COOKIE = "v2v_session"
SESSION_MAX_AGE = 8 * 3600

_bearer = HTTPBearer(auto_error=False, description="Integration client token (`v2v_...`)")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="Console session (sign in at /login)"
)


class Principal(BaseModel):
    """An authenticated caller: a person (with roles) or an integration client (with scopes)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["user", "client"]
    id: str
    name: str
    roles: tuple[Role, ...] = ()
    scopes: tuple[str, ...] = ()
    session_nonce: str = ""

    @property
    def caller(self) -> str:
        """The key under which this caller's idempotency keys are kept."""
        return f"{self.kind}:{self.id}"

    def may(self, *, scopes: frozenset[str] = frozenset(), roles: frozenset[Role]) -> bool:
        """True when a client holds one of `scopes` or a person holds one of `roles`."""
        if self.kind == "client":
            return bool(scopes & set(self.scopes))
        return bool(roles & set(self.roles))


class LoginRequired(Exception):
    """A console page was asked for without a valid session."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def _serializer(ctx: ServiceContext) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.secret, salt="vein2vein-session")


def make_session(ctx: ServiceContext, user: User) -> str:
    """A signed session cookie value for `user`; a password change invalidates it."""
    return _serializer(ctx).dumps(
        {"u": user.user_id, "g": user.generation, "n": secrets.token_hex(8)}
    )


def read_session(ctx: ServiceContext, value: str | None) -> Principal | None:
    """The person a session cookie names, if it is valid, unexpired and still current."""
    if not value:
        return None
    try:
        data = _serializer(ctx).loads(value, max_age=SESSION_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    user = ctx.users.get(str(data.get("u", "")))
    if user is None or user.disabled or data.get("g") != user.generation:
        return None
    if ctx.users.is_locked(user.user_id):
        return None
    return Principal(
        kind="user",
        id=user.user_id,
        name=user.printed_name,
        roles=user.roles,
        session_nonce=str(data.get("n", "")),
    )


def csrf_token(ctx: ServiceContext, principal: Principal) -> str:
    """The anti-forgery token console forms carry, bound to the session."""
    mac = hmac.new(ctx.secret, f"csrf:{principal.session_nonce}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def check_csrf(ctx: ServiceContext, principal: Principal, token: str) -> None:
    """403 unless `token` is this session's anti-forgery token."""
    if not hmac.compare_digest(csrf_token(ctx, principal), token):
        raise HTTPException(403, "the form has expired or was not made by this console; reload")


Ctx = Annotated[ServiceContext, Depends(get_context)]


async def optional_principal(
    ctx: Ctx,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_cookie)],
) -> Principal | None:
    """The caller if authenticated; a presented but invalid token is a 401."""
    if bearer is not None:
        token = ctx.tokens.verify(bearer.credentials)
        if token is None:
            raise HTTPException(
                401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"}
            )
        return Principal(kind="client", id=token.client, name=token.client, scopes=token.scopes)
    return read_session(ctx, session)


async def principal(
    found: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """The authenticated caller, or 401."""
    if found is None:
        raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
    return found


def allowed(
    *, scopes: set[str] | None = None, roles: set[Role] | None = None
) -> Callable[..., Principal]:
    """Dependency: the caller if a client with one of `scopes` or a person with one of `roles`."""
    scope_set, role_set = frozenset(scopes or ()), frozenset(roles or ())

    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.may(scopes=scope_set, roles=role_set):
            needs = [f"scope {s}" for s in sorted(scope_set)] + [
                f"role {r.value}" for r in sorted(role_set)
            ]
            raise HTTPException(403, f"not allowed: needs {' or '.join(needs) or 'nothing here'}")
        return who

    return check


def person(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """The caller if a signed-in person; integration tokens get 403."""
    if who.kind != "user":
        raise HTTPException(403, "only a signed-in person may do this, never an API token")
    return who


def console_user(request: Request, ctx: Ctx) -> Principal:
    """The signed-in person for a console page; otherwise a redirect to the login page."""
    found = read_session(ctx, request.cookies.get(SESSION_COOKIE))
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return found


#: Every role that may read batches (all of them).
READERS = set(Role)
