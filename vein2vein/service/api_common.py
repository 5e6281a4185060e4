"""What the API's routers share: the Idempotency-Key header, path parameters, run-once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from records.external_tasks import TASK_ID_PATTERN
from vein2vein.service.auth import Ctx, Principal
from vein2vein.service.idempotency import Answer
from vein2vein.service.users import USER_ID_PATTERN
from workflows.model import BATCH_ID_PATTERN

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="Unique per intended change; a repeat returns the first answer",
    ),
]
BatchId = Annotated[str, Path(pattern=BATCH_ID_PATTERN, description="B-XXXXXXXXXX")]
TaskId = Annotated[str, Path(pattern=TASK_ID_PATTERN)]
UserId = Annotated[str, Path(pattern=USER_ID_PATTERN)]

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown batch, task or user"}}


class In(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


async def once(
    request: Request,
    ctx: Ctx,
    who: Principal,
    key: str,
    content: Any,
    act: Callable[[], Awaitable[Answer]],
) -> JSONResponse:
    """Run `act` once per (caller, Idempotency-Key); a repeat gets the first answer."""
    fingerprint = ctx.idempotency.fingerprint(request.method, request.url.path, content)
    return await ctx.idempotency.run(who.caller, key, fingerprint, act)
