"""The console's single sign-on routes: "Sign in with <provider>" and the provider's callback,
which finishes either a sign-in or a signature waiting for its re-authentication.

The callback first answers with a page that reloads itself on this site: the browser arrives
from the provider (another site), and the session cookie is `SameSite=Strict`, so only a
request made from one of our own pages carries it (and keeps the cookie set at sign-in).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape
from pydantic import ValidationError

from vein2vein.service import console
from vein2vein.service.auth import (
    SESSION_COOKIE,
    Ctx,
    Principal,
    check_login_csrf,
    read_session,
    set_session_cookie,
)
from vein2vein.service.batches import fetch_record
from vein2vein.service.console_login import client_address, login_page, safe_next
from vein2vein.service.decisions import Decision, sign_and_submit
from vein2vein.service.oidc import OIDC, OidcError, Pending, digest, sign_in
from vein2vein.service.oidc_signing import (
    SIGN,
    callback_url,
    freshness_problem,
    provider_of,
    refuse,
)
from vein2vein.service.security import SecurityEvent

router = APIRouter(include_in_schema=False)
#: Binds a sign-in at the provider to the browser that started it (against login CSRF).
FLOW_COOKIE = "v2v_oidc"
_FLOW_PATH = "/login/oidc"
#: The purpose of a request sent to the provider to sign in.
LOGIN = "login"


@router.post("/login/oidc")
async def oidc_login(
    request: Request,
    ctx: Ctx,
    login_csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    """Send the browser to the provider to sign in."""
    provider = provider_of(ctx)
    if not check_login_csrf(ctx, request, login_csrf):
        return login_page(
            request,
            ctx,
            next,
            error="the sign-in form has expired or was not made by this console; try again",
            status_code=403,
        )
    flow = secrets.token_urlsafe(32)
    try:
        url = await provider.start(
            LOGIN, digest(flow), callback_url(request), {"next": safe_next(next)}
        )
    except OidcError as err:
        return login_page(request, ctx, next, error=err.message, status_code=err.status)
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the provider sends the browser back from another site.
    response.set_cookie(
        FLOW_COOKIE,
        flow,
        max_age=600,
        path=_FLOW_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login/oidc/callback", name="oidc_callback")
async def oidc_callback(
    request: Request,
    ctx: Ctx,
    state: str = "",
    code: str = "",
    error: str = "",
    hop: int = 0,
) -> Response:
    """Where the provider sends the browser back: finish the sign-in or the signature."""
    provider = provider_of(ctx)
    if not hop:
        return _reload_here(request)
    pending = provider.requests.take(state[:200])
    if pending is None:
        return login_page(
            request,
            ctx,
            "/console",
            error="this sign-in at the identity provider has expired or was used; try again",
            status_code=400,
        )
    if pending.purpose == SIGN:
        return await _finish_signing(request, ctx, pending, code, error)
    return await _finish_login(request, ctx, pending, code, error)


def _reload_here(request: Request) -> HTMLResponse:
    query = urlencode([*request.query_params.multi_items(), ("hop", "1")])
    target = escape(f"{_FLOW_PATH}/callback?{query}")
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={target}"><title>Signing in</title></head>'
        f'<body><p>Signing you in… <a id="continue" href="{target}">continue</a></p></body></html>'
    )
    return HTMLResponse(html)


async def _finish_login(
    request: Request, ctx: Ctx, pending: Pending, code: str, error: str
) -> Response:
    provider = provider_of(ctx)
    next_url = str(pending.payload.get("next", "/console"))
    flow = request.cookies.get(FLOW_COOKIE, "")
    if not flow or not hmac.compare_digest(digest(flow), pending.binding):
        return login_page(
            request,
            ctx,
            next_url,
            error="this sign-in was not started by this browser; try again",
            status_code=403,
        )
    try:
        if error:
            raise OidcError(f"the identity provider refused the sign-in ({error[:80]})")
        claims = await provider.claims(code[:2000], pending)
        user = await asyncio.to_thread(sign_in, ctx.identity, provider, claims)
    except OidcError as err:
        return login_page(request, ctx, next_url, error=err.message, status_code=err.status)
    session_id = ctx.sessions.open(user.user_id, method=OIDC, address=client_address(request))
    ctx.security.record(
        SecurityEvent.SESSION_OPENED, actor=user.user_id, user_id=user.user_id, detail=OIDC
    )
    done = RedirectResponse(safe_next(next_url), status_code=303)
    set_session_cookie(request, done, session_id)
    done.delete_cookie(FLOW_COOKIE, path=_FLOW_PATH)
    return done


async def _finish_signing(
    request: Request, ctx: Ctx, pending: Pending, code: str, error: str
) -> Response:
    who = read_session(ctx, request.cookies.get(SESSION_COOKIE))
    if who is None:
        return login_page(
            request,
            ctx,
            "/console/inbox",
            error="your session ended while you signed in again; sign in and sign once more",
            status_code=401,
        )
    if not hmac.compare_digest(who.session_hash, pending.binding):
        refuse(ctx, who, pending, "re-authentication started by another session")
        return RedirectResponse("/console/inbox", status_code=303)
    batch_id = str(pending.payload["batch_id"])
    try:
        decision = Decision.model_validate(pending.payload["decision"])
    except ValidationError:
        return RedirectResponse("/console/inbox", status_code=303)
    problem = await _reauthentication_problem(ctx, who, pending, code, error)
    if problem is None:
        return await _sign(request, ctx, who, pending, batch_id, decision)
    refuse(ctx, who, pending, problem)
    return await _form_again(request, ctx, who, batch_id, decision, problem, 403)


async def _reauthentication_problem(
    ctx: Ctx, who: Principal, pending: Pending, code: str, error: str
) -> str | None:
    if error:
        return f"the identity provider refused the sign-in ({error[:80]})"
    try:
        claims = await provider_of(ctx).claims(code[:2000], pending)
    except OidcError as err:
        return err.message
    return freshness_problem(ctx, who, claims, pending)


async def _sign(
    request: Request,
    ctx: Ctx,
    who: Principal,
    pending: Pending,
    batch_id: str,
    decision: Decision,
) -> Response:
    user = ctx.users.get(who.id)

    async def act() -> tuple[int, object]:
        receipt = await sign_and_submit(ctx, who, batch_id, decision, reauthenticated=user)
        return 200, receipt.model_dump(mode="json")

    path = f"/console/batches/{batch_id}/decide"
    fingerprint = ctx.idempotency.fingerprint("POST", path, decision.model_dump(mode="json"))
    form_key = f"form:{pending.payload.get('form_id', '')}"
    status, body, _ = await ctx.idempotency.once(who.caller, form_key, fingerprint, act)
    if status == 200 and isinstance(body, dict):
        signed = urlencode({"signed": str(body.get("signature_id", ""))})
        return RedirectResponse(f"/console/batches/{batch_id}?{signed}", status_code=303)
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return await _form_again(request, ctx, who, batch_id, decision, str(detail), status)


async def _form_again(
    request: Request,
    ctx: Ctx,
    who: Principal,
    batch_id: str,
    decision: Decision,
    error: str,
    status: int,
) -> Response:
    rec = await fetch_record(ctx, batch_id)
    typed = {
        "action": decision.action.value,
        "role": decision.role.value,
        "reason": decision.reason,
        "meaning": decision.meaning or "",
        "severity": decision.severity.value if decision.severity else "",
        "capa": decision.capa or "",
        "conditions": decision.conditions or "",
        "rework_to": decision.rework_to or "",
    }
    return await console.decide_page(
        request, ctx, who, rec, decision.target, error=error, status_code=status, typed=typed
    )
