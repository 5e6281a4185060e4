"""What only a signed-in person may do over the API: the inbox, signed decisions, unlocking
a user (admin), and reading the security log (admin, QA)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from vein2vein.service import admin
from vein2vein.service.api_common import NOT_FOUND, BatchId, IdempotencyKey, UserId, once
from vein2vein.service.auth import Ctx, Principal, allowed, person
from vein2vein.service.batches import InboxItem, inbox_items, records
from vein2vein.service.decisions import DecisionRequest, sign_and_submit
from vein2vein.service.idempotency import Answer
from vein2vein.service.security import SecurityEntry
from workflows.model import DecisionReceipt, Role

router = APIRouter(prefix="/api", tags=["people"])


class Unlocked(BaseModel):
    """The outcome of an unlock: whether sign-in throttling was cleared."""

    user_id: str
    unlocked: bool


@router.get("/inbox", response_model=list[InboxItem])
async def inbox(ctx: Ctx, who: Annotated[Principal, Depends(person)]) -> list[InboxItem]:
    """What waits for a decision by one of my roles."""
    return await inbox_items(ctx, await records(ctx), who.roles, who.id)


@router.get("/security-log", response_model=list[SecurityEntry])
async def security_log(
    ctx: Ctx,
    _: Annotated[Principal, Depends(allowed(roles={Role.ADMIN, Role.QA}))],
    user_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[SecurityEntry]:
    """Password checks, throttling, administration, sessions, tokens and decisions; newest
    first."""
    return ctx.security.entries(user_id=user_id, limit=limit)


@router.post(
    "/batches/{batch_id}/decisions",
    response_model=DecisionReceipt,
    responses={
        **NOT_FOUND,
        409: {"description": "The workflow refused the decision; reason given"},
        429: {"description": "Too many failed password attempts: retry after Retry-After s"},
    },
)
async def post_decision(
    request: Request,
    ctx: Ctx,
    batch_id: BatchId,
    body: DecisionRequest,
    key: IdempotencyKey,
    who: Annotated[Principal, Depends(person)],
) -> JSONResponse:
    """Sign a decision (password typed again) and submit it to the batch."""

    async def act() -> Answer:
        return 200, await sign_and_submit(ctx, who, batch_id, body)

    return await once(request, ctx, who, key, body, act)


@router.post("/users/{user_id}/unlock", response_model=Unlocked, responses=NOT_FOUND)
async def unlock(
    request: Request,
    ctx: Ctx,
    user_id: UserId,
    key: IdempotencyKey,
    who: Annotated[Principal, Depends(allowed(roles={Role.ADMIN}))],
) -> JSONResponse:
    """Clear a user's sign-in throttling after failed attempts (admin only; recorded)."""

    async def act() -> Answer:
        try:
            done = admin.unlock_user(ctx.identity, user_id, by=who.id)
        except admin.NotAdmin as err:
            raise HTTPException(403, str(err)) from err
        except KeyError as err:
            raise HTTPException(404, f"no user {user_id}") from err
        return 200, Unlocked(user_id=user_id, unlocked=done)

    return await once(request, ctx, who, key, user_id, act)
