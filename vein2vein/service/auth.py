"""Who is calling: integration clients by scoped bearer token, people by console session.

Anything unauthenticated gets 401; authenticated but not allowed gets 403. Console pages
redirect to the login page instead of answering 401. Sessions live in the database
(`vein2vein.service.sessions`); the cookie holds only their opaque id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from vein2vein.service.context import ServiceContext, get_context
from workflows.model import Role

SESSION_COOKIE = "v2v_session"
#: The pre-session cookie of the login form's anti-forgery token (double submit).
LOGIN_COOKIE = "v2v_login"

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
    #: The SHA-256 of a person's session id (keys the anti-forgery token).
    session_hash: str = ""
    #: How a person's session was authenticated ("password", later single sign-on).
    method: str = ""
    #: A client token's one site; None: any site.
    site: str | None = None
    #: A person whose password somebody else chose: nothing but choosing their own until then.
    must_change_password: bool = False

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


class PasswordChangeRequired(LoginRequired):
    """A console page was asked for by a person who must first choose their own password."""


def read_session(ctx: ServiceContext, value: str | None) -> Principal | None:
    """The person a session cookie names, if the session is live and the user active."""
    session = ctx.sessions.read(value)
    if session is None:
        return None
    user = ctx.users.get(session.user_id)
    if user is None or not user.active:
        return None
    return Principal(
        kind="user",
        id=user.user_id,
        name=user.printed_name,
        roles=user.roles,
        session_hash=session.id_sha256,
        method=session.method,
        must_change_password=user.must_change_password,
    )


def set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    """Put the session id in its cookie: HTTP only, same site, secure over https."""
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(_absolute(request)),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _absolute(request: Request) -> float:
    """The longest a session lives, in seconds (the cookie's max-age)."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx.sessions.absolute.total_seconds()


def csrf_token(ctx: ServiceContext, principal: Principal) -> str:
    """The anti-forgery token console forms carry, bound to the session."""
    mac = hmac.new(ctx.secret, f"csrf:{principal.session_hash}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def check_csrf(ctx: ServiceContext, principal: Principal, token: str) -> None:
    """403 unless `token` is this session's anti-forgery token."""
    if not hmac.compare_digest(csrf_token(ctx, principal), token):
        raise HTTPException(403, "the form has expired or was not made by this console; reload")


def login_csrf(ctx: ServiceContext, request: Request) -> tuple[str, str | None]:
    """The login form's token and, when the browser has no login cookie yet, the cookie to set.

    Signed double submit: the cookie holds a random value, the form its HMAC; a forged form
    cannot know the victim's cookie, and another site cannot set it.
    """
    cookie = request.cookies.get(LOGIN_COOKIE)
    fresh = None
    if not cookie or len(cookie) > 100:
        cookie = fresh = secrets.token_urlsafe(24)
    return _login_mac(ctx, cookie), fresh


def check_login_csrf(ctx: ServiceContext, request: Request, token: str) -> bool:
    """True when `token` matches the browser's login cookie."""
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not cookie or len(cookie) > 100:
        return False
    return hmac.compare_digest(_login_mac(ctx, cookie), token)


def _login_mac(ctx: ServiceContext, cookie: str) -> str:
    return hmac.new(ctx.secret, f"login:{cookie}".encode(), hashlib.sha256).hexdigest()[:32]


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
                401, "invalid, expired or revoked token", headers={"WWW-Authenticate": "Bearer"}
            )
        return Principal(
            kind="client", id=token.client, name=token.client, scopes=token.scopes, site=token.site
        )
    return read_session(ctx, session)


async def principal(
    found: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """The authenticated caller, or 401; 403 for a person who must first change the password
    an administrator set (in the console)."""
    if found is None:
        raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
    if found.must_change_password:
        raise HTTPException(
            403, "change the password an administrator set first: /console/password"
        )
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


def console_session(request: Request, ctx: Ctx) -> Principal:
    """The signed-in person, even one who must change their password (the password page and
    sign-out); otherwise a redirect to the login page."""
    found = read_session(ctx, request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise LoginRequired(_here(request))
    return found


def console_user(request: Request, ctx: Ctx) -> Principal:
    """The signed-in person for a console page; otherwise a redirect to the login page, or to
    the password page while they must change the password an administrator set."""
    found = console_session(request, ctx)
    if found.must_change_password:
        raise PasswordChangeRequired(_here(request))
    return found


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


#: Every role that may read batches (all of them).
READERS = set(Role)
