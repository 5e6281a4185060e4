"""The operations console: server-rendered pages for people (board, inbox, batch, decisions).

Pages poll themselves for live updates (`X-Partial`); forms carry an anti-forgery token bound
to the session, and the decision form a one-time id so a double submit signs only once.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from records import review_by_exception
from records.ebr_temperature import legs_html
from vein2vein.service import board_routes, console_admin, console_login
from vein2vein.service.auth import Ctx, Principal, check_csrf, console_user
from vein2vein.service.batches import (
    about,
    definition_of,
    fetch_record,
    gates_awaiting,
    inbox_items,
    records,
)
from vein2vein.service.board import await_cells, clock_cells, next_cell
from vein2vein.service.decisions import Decision, DecisionRequest, authority, sign_and_submit
from vein2vein.service.oidc import OIDC
from vein2vein.service.oidc_signing import start_signing
from vein2vein.service.temperature import legs_for
from vein2vein.service.templates import CONSOLE_CSS
from vein2vein.service.timeline import timeline_svg
from vein2vein.service.views import decision_links, hold_clocks, spec_rows
from workflows.authority import TargetKind
from workflows.model import BATCH_ID_PATTERN, BatchRecord, DecisionAction, Role, Severity

router = APIRouter(include_in_schema=False)
router.include_router(board_routes.router)
router.include_router(console_login.router)
router.include_router(console_admin.router)
Who = Annotated[Principal, Depends(console_user)]
_page = board_routes.page
REFRESH_SECONDS = board_routes.REFRESH_SECONDS


def _batch_id(batch_id: str) -> str:
    if not re.fullmatch(BATCH_ID_PATTERN, batch_id):
        raise HTTPException(404, f"no batch {batch_id}")
    return batch_id


# -- the root and the style sheet ----------------------------------------------------------


@router.get("/")
async def root() -> RedirectResponse:
    """The console's board."""
    return RedirectResponse("/console", status_code=303)


@router.get("/console.css")
async def style_sheet() -> Response:
    """The console's style sheet (a file, so the pages need no inline style)."""
    return Response(CONSOLE_CSS, media_type="text/css")


# -- board, inbox, batch ------------------------------------------------------------------


@router.get("/console/inbox")
async def inbox(request: Request, ctx: Ctx, who: Who) -> HTMLResponse:
    """What waits for a decision by one of my roles."""
    items = await inbox_items(ctx, await records(ctx), who.roles, who.id)
    return _page(request, ctx, "inbox", "Inbox", who, items=items, refresh=REFRESH_SECONDS)


@router.get("/console/batches/{batch_id}")
async def batch_page(
    request: Request, ctx: Ctx, who: Who, batch_id: str, signed: str = ""
) -> HTMLResponse:
    """One batch: timeline, custody, hold clocks, results, deviations, signatures, audit."""
    rec = await fetch_record(ctx, _batch_id(batch_id))
    defn = await definition_of(ctx, rec)
    now = await ctx.clock()
    legs = await legs_for(ctx, rec, defn)
    awaiting, clocks = await_cells(rec, now), clock_cells(rec.clocks, holds=False)
    zones = {
        party: site.time_zone for party, s in rec.sites.items() if (site := ctx.sites.sites.get(s))
    }
    return _page(
        request,
        ctx,
        "batch",
        rec.batch_id,
        who,
        r=rec,
        now=now,
        signed=signed[:80],
        actions=decision_links(
            defn, rec, awaiting_gates=gates_awaiting(rec), roles=who.roles, user_id=who.id
        ),
        review=review_by_exception(rec, legs, ctx.settings.time_zone),
        # escaped value by value in records.ebr_temperature
        temperature=Markup(legs_html(legs, ctx.settings.time_zone)),
        timeline_chart=Markup(timeline_svg(rec, now)),  # escaped value by value in .timeline
        awaiting=awaiting,
        next=next_cell(rec, clock_cells(rec.clocks), awaiting),
        holds=hold_clocks(defn, rec, ctx.settings.time_zone),
        clocks=clocks,
        zones=zones,
        spec=spec_rows(defn, rec),
        refresh=REFRESH_SECONDS,
    )


# -- deciding -----------------------------------------------------------------------------


async def decide_page(
    request: Request,
    ctx: Ctx,
    who: Principal,
    rec: BatchRecord,
    target: str,
    *,
    error: str = "",
    status_code: int = 200,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    """The decision form for `target`, with `error` and what was `typed` when shown again."""
    # `typed`: what the signer entered before a refusal (never the password), shown again.
    kept = dict.fromkeys(
        ("action", "role", "reason", "meaning", "severity", "capa", "conditions", "rework_to"), ""
    )
    kept.update(typed or {})
    auth = await authority(ctx, rec, target)
    roles = auth.roles_of(who.roles)
    if not roles:
        allowed = ", ".join(sorted(r.value for r in auth.roles))
        raise HTTPException(403, f"you may not decide {target}; allowed roles: {allowed}")
    return _page(
        request,
        ctx,
        "decide",
        f"Decide {target}",
        who,
        r=rec,
        target=target,
        about=about(auth),
        error=error,
        review=review_by_exception(rec, await legs_for(ctx, rec), ctx.settings.time_zone),
        # Any open deviation may also be held for an investigation (`workflows.authority`).
        actions=[*auth.actions, DecisionAction.ON_HOLD]
        if auth.kind == TargetKind.DEVIATION
        else list(auth.actions),
        severities=list(Severity) if auth.kind == TargetKind.DEVIATION else [],
        conditional=DecisionAction.ACCEPT_CONDITIONALLY in auth.actions,
        rework_to=auth.deviation.rework_to
        if auth.deviation is not None and DecisionAction.REWORK in auth.actions
        else (),
        roles=roles,
        meaning=kept["meaning"] or auth.meaning_for(roles[0]),
        typed=kept,
        form_id=secrets.token_urlsafe(16),
        sso=who.method == OIDC,
        sso_name=ctx.oidc.settings.name if ctx.oidc else "",
        status_code=status_code,
    )


@router.get("/console/batches/{batch_id}/decide")
async def decide_form(
    request: Request, ctx: Ctx, who: Who, batch_id: str, target: str
) -> HTMLResponse:
    """The decision form: review by exception, decision, role, meaning, reason, password."""
    rec = await fetch_record(ctx, _batch_id(batch_id))
    return await decide_page(request, ctx, who, rec, target[:80])


@router.post("/console/batches/{batch_id}/decide")
async def decide(
    request: Request,
    ctx: Ctx,
    who: Who,
    batch_id: str,
    csrf: Annotated[str, Form(max_length=100)],
    form_id: Annotated[str, Form(min_length=8, max_length=100)],
    target: Annotated[str, Form(max_length=80)],
    action: Annotated[str, Form(max_length=40)],
    role: Annotated[str, Form(max_length=40)],
    password: Annotated[str, Form(max_length=200)] = "",
    meaning: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    record_hash: Annotated[str, Form(max_length=64)] = "",
    severity: Annotated[str, Form(max_length=20)] = "",
    capa: Annotated[str, Form(max_length=80)] = "",
    conditions: Annotated[str, Form(max_length=2000)] = "",
    rework_to: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    """Sign and submit; on success back to the batch page, else the form with the reason.

    A person signed in at the identity provider is sent there to sign in again first; the
    decision waits server-side (`oidc_signing`)."""
    check_csrf(ctx, who, csrf)
    _batch_id(batch_id)
    if who.method == OIDC:
        try:
            pending = Decision(
                target=target,
                action=DecisionAction(action),
                role=Role(role),
                reason=reason,
                meaning=meaning or None,
                record_hash=record_hash or None,
                severity=Severity(severity) if severity else None,
                capa=capa or None,
                conditions=conditions or None,
                rework_to=rework_to or None,
            )
        except (ValueError, ValidationError) as err:
            raise HTTPException(422, f"invalid decision: {err}") from err
        url = await start_signing(request, ctx, who, batch_id, pending, form_id)
        return RedirectResponse(url, status_code=303)
    try:
        req = DecisionRequest(
            target=target,
            action=DecisionAction(action),
            role=Role(role),
            password=password,
            reason=reason,
            meaning=meaning or None,
            record_hash=record_hash or None,
            severity=Severity(severity) if severity else None,
            capa=capa or None,
            conditions=conditions or None,
            rework_to=rework_to or None,
        )
    except (ValueError, ValidationError) as err:
        raise HTTPException(422, f"invalid decision: {err}") from err

    async def act() -> tuple[int, object]:
        receipt = await sign_and_submit(ctx, who, batch_id, req)
        return 200, receipt.model_dump(mode="json")

    fingerprint = ctx.idempotency.fingerprint("POST", request.url.path, req.model_dump())
    status, body, _ = await ctx.idempotency.once(who.caller, f"form:{form_id}", fingerprint, act)
    if status == 200 and isinstance(body, dict):
        signed = quote(str(body.get("signature_id", "")))
        return RedirectResponse(f"/console/batches/{batch_id}?signed={signed}", status_code=303)
    detail = body.get("detail", body) if isinstance(body, dict) else body
    rec = await fetch_record(ctx, batch_id)
    typed = {
        "action": action,
        "role": role,
        "reason": reason,
        "meaning": meaning,
        "severity": severity,
        "capa": capa,
        "conditions": conditions,
        "rework_to": rework_to,
    }
    return await decide_page(
        request, ctx, who, rec, target, error=str(detail), status_code=status, typed=typed
    )
