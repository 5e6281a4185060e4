"""The console's administration page: people (roles, disable, enable, remove, throttling,
sessions), integration tokens and the security log. Every change is made through
`vein2vein.service.admin` as the signed-in administrator and recorded with their id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vein2vein.service import admin, board_routes
from vein2vein.service.auth import Ctx, Principal, check_csrf, console_user
from workflows.model import Role

router = APIRouter(include_in_schema=False)
Who = Annotated[Principal, Depends(console_user)]
Csrf = Annotated[str, Form(max_length=100)]


def _admin(who: Principal) -> None:
    if Role.ADMIN not in who.roles:
        raise HTTPException(403, "administrators only")


@router.get("/console/admin")
async def admin_page(request: Request, ctx: Ctx, who: Who) -> HTMLResponse:
    """Users with their state, throttling and sessions; tokens; the security log."""
    _admin(who)
    auth = ctx.identity.auth
    users = [
        {
            "user_id": u.user_id,
            "printed_name": u.printed_name,
            "roles": [r.value for r in u.roles],
            "failed": auth.failures(u.user_id),
            "locked": auth.is_throttled(u.user_id),
            "disabled": u.disabled,
            "sessions": ctx.sessions.live_count(u.user_id),
        }
        for u in admin.list_users(ctx.identity)
    ]
    return board_routes.page(
        request,
        ctx,
        "admin",
        "Administration",
        who,
        users=users,
        all_roles=[r.value for r in Role],
        tokens=admin.list_tokens(ctx.identity),
        log=ctx.security.entries(limit=100),
    )


def _act(ctx: Ctx, who: Principal, csrf: str, change: Callable[[], Any]) -> Response:
    _admin(who)
    check_csrf(ctx, who, csrf)
    try:
        change()
    except admin.NotAdmin as err:
        raise HTTPException(403, str(err)) from err
    except KeyError as err:
        raise HTTPException(404, str(err.args[0] if err.args else err)) from err
    except ValueError as err:
        raise HTTPException(422, str(err)) from err
    return RedirectResponse("/console/admin", status_code=303)


@router.post("/console/admin/unlock/{user_id}")
async def admin_unlock(ctx: Ctx, who: Who, user_id: str, csrf: Csrf) -> Response:
    """Clear a user's sign-in throttling."""
    return _act(ctx, who, csrf, lambda: admin.unlock_user(ctx.identity, user_id, by=who.id))


@router.post("/console/admin/disable/{user_id}")
async def admin_disable(ctx: Ctx, who: Who, user_id: str, csrf: Csrf) -> Response:
    """Disable a user: no sign-in, no signature; their sessions end."""
    return _act(ctx, who, csrf, lambda: admin.set_disabled(ctx.identity, user_id, True, by=who.id))


@router.post("/console/admin/enable/{user_id}")
async def admin_enable(ctx: Ctx, who: Who, user_id: str, csrf: Csrf) -> Response:
    """Enable a disabled user again."""
    return _act(ctx, who, csrf, lambda: admin.set_disabled(ctx.identity, user_id, False, by=who.id))


@router.post("/console/admin/remove/{user_id}")
async def admin_remove(ctx: Ctx, who: Who, user_id: str, csrf: Csrf) -> Response:
    """Remove a user (their id is never given again)."""
    return _act(ctx, who, csrf, lambda: admin.remove_user(ctx.identity, user_id, by=who.id))


@router.post("/console/admin/roles/{user_id}")
async def admin_roles(
    ctx: Ctx,
    who: Who,
    user_id: str,
    csrf: Csrf,
    roles: Annotated[list[str], Form()],
) -> Response:
    """Replace a user's roles."""
    return _act(ctx, who, csrf, lambda: admin.set_roles(ctx.identity, user_id, roles, by=who.id))


@router.post("/console/admin/sessions/{user_id}/revoke")
async def admin_revoke_sessions(ctx: Ctx, who: Who, user_id: str, csrf: Csrf) -> Response:
    """End every session of a user."""
    return _act(ctx, who, csrf, lambda: admin.revoke_sessions(ctx.identity, user_id, by=who.id))


@router.post("/console/admin/tokens/{token_id}/revoke")
async def admin_revoke_token(ctx: Ctx, who: Who, token_id: str, csrf: Csrf) -> Response:
    """Revoke one integration token."""
    return _act(ctx, who, csrf, lambda: admin.revoke_token(ctx.identity, token_id, by=who.id))
