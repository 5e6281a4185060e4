"""Signing in and out of the console, and changing one's own password.

The login form carries an anti-forgery token (signed double submit, before any session
exists). A password check is throttled and recorded (`vein2vein.service.authn`); success opens
a session in the database, sign-out revokes it there, so the cookie is worthless afterwards on
every replica. A person whose password an administrator set is sent to the password page
first (`auth.console_user`); a new password ends every session of theirs and opens a fresh one
for the browser that changed it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vein2vein.service import admin, board_routes
from vein2vein.service.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Ctx,
    Principal,
    check_csrf,
    check_login_csrf,
    console_session,
    login_csrf,
    set_session_cookie,
)
from vein2vein.service.authn import AuthError
from vein2vein.service.security import SecurityEvent
from vein2vein.service.sessions import PASSWORD
from vein2vein.service.users import MIN_PASSWORD_LENGTH

router = APIRouter(include_in_schema=False)
#: Signed in, whether or not the password must change first (sign-out, the password page).
Anyone = Annotated[Principal, Depends(console_session)]


def safe_next(target: str) -> str:
    """A local path to go to after signing in; anything else (another site) goes to the board."""
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if local and target.isprintable() else "/console"


def client_address(request: Request) -> str:
    """The address failed sign-ins are throttled by (the peer; a proxy must pass it through)."""
    return request.client.host if request.client else "unknown"


def login_page(
    request: Request, ctx: Ctx, next_url: str, *, error: str = "", status_code: int = 200
) -> HTMLResponse:
    """The sign-in form (with its anti-forgery cookie when the browser has none yet)."""
    token, fresh = login_csrf(ctx, request)
    response = board_routes.page(
        request,
        ctx,
        "login",
        "Sign in",
        None,
        error=error,
        next=safe_next(next_url),
        login_csrf=token,
        sso_name=ctx.settings.oidc.name if ctx.settings.oidc else "",
        status_code=status_code,
    )
    if fresh is not None:
        response.set_cookie(
            LOGIN_COOKIE,
            fresh,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response


@router.get("/login")
async def login_form(request: Request, ctx: Ctx, next: str = "/console") -> HTMLResponse:
    """The sign-in form."""
    return login_page(request, ctx, next)


@router.post("/login")
async def login(
    request: Request,
    ctx: Ctx,
    user_id: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=200)],
    login_csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    """Check the password (throttled and recorded) and open a session."""
    if not check_login_csrf(ctx, request, login_csrf):
        return login_page(
            request,
            ctx,
            next,
            error="the sign-in form has expired or was not made by this console; try again",
            status_code=403,
        )
    address = client_address(request)
    try:
        user = await asyncio.to_thread(
            ctx.identity.auth.authenticate,
            user_id.strip(),
            password,
            purpose="login",
            address=address,
        )
    except AuthError as err:
        response = login_page(request, ctx, next, error=err.message, status_code=err.status)
        if err.retry_after is not None:
            response.headers["Retry-After"] = str(err.retry_after)
        return response
    session_id = ctx.sessions.open(user.user_id, address=address)
    ctx.security.record(
        SecurityEvent.SESSION_OPENED, actor=user.user_id, user_id=user.user_id, detail="password"
    )
    done = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, done, session_id)
    done.delete_cookie(LOGIN_COOKIE)
    return done


@router.post("/logout")
async def logout(
    request: Request, ctx: Ctx, who: Anyone, csrf: Annotated[str, Form(max_length=100)]
) -> Response:
    """End the session, here and on every replica."""
    check_csrf(ctx, who, csrf)
    ctx.sessions.revoke(request.cookies.get(SESSION_COOKIE, ""), by=who.id)
    ctx.security.record(SecurityEvent.SESSION_ENDED, actor=who.id, user_id=who.id, detail="logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _password_page(
    request: Request,
    ctx: Ctx,
    who: Principal,
    next_url: str,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    if who.method != PASSWORD:
        raise HTTPException(404, "your password is kept by your identity provider, not here")
    return board_routes.page(
        request,
        ctx,
        "password",
        "Change your password",
        who,
        forced=who.must_change_password,
        error=error,
        next=safe_next(next_url),
        min_length=MIN_PASSWORD_LENGTH,
        status_code=status_code,
    )


@router.get("/console/password")
async def password_form(
    request: Request, ctx: Ctx, who: Anyone, next: str = "/console"
) -> HTMLResponse:
    """Choose a new password: forced before any other page after an administrator set it."""
    return _password_page(request, ctx, who, next)


@router.post("/console/password")
async def change_password(
    request: Request,
    ctx: Ctx,
    who: Anyone,
    csrf: Annotated[str, Form(max_length=100)],
    current: Annotated[str, Form(max_length=200)],
    new: Annotated[str, Form(max_length=200)],
    again: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    """Check the current password (throttled), set the new one; every session of the user
    ends and this browser gets a fresh one."""
    check_csrf(ctx, who, csrf)
    if who.method != PASSWORD:
        raise HTTPException(404, "your password is kept by your identity provider, not here")
    if new != again:
        return _password_page(
            request, ctx, who, next, error="the two new passwords differ", status_code=422
        )
    address = client_address(request)
    try:
        await asyncio.to_thread(
            admin.change_own_password, ctx.identity, who.id, current, new, address=address
        )
    except AuthError as err:
        return _password_page(request, ctx, who, next, error=err.message, status_code=err.status)
    except ValueError as err:
        return _password_page(request, ctx, who, next, error=str(err), status_code=422)
    session_id = ctx.sessions.open(who.id, address=address)
    ctx.security.record(
        SecurityEvent.SESSION_OPENED, actor=who.id, user_id=who.id, detail="password changed"
    )
    done = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, done, session_id)
    return done
