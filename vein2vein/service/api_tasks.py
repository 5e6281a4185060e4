"""External tasks: complete or fail, by opaque task id, what an activity handed outside.

The activity registered its Temporal task token (`register_external_task`); the outside
system knows only the task id. Completion goes through `get_async_activity_handle`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from vein2vein.service.api_common import NOT_FOUND, IdempotencyKey, In, TaskId, once
from vein2vein.service.auth import Ctx, Principal, allowed
from vein2vein.service.idempotency import Answer
from workflows.bounds import Data, Lots, Results
from workflows.model import StepOutput
from workflows.vocabulary import BusinessError

router = APIRouter(prefix="/api", tags=["tasks"])


class TaskCompletion(In):
    """What the outside system hands back when it completes a task."""

    results: Results = Field(default_factory=dict)
    lots: Lots = Field(default_factory=list)
    data: Data = Field(default_factory=dict)


class TaskFailure(In):
    """Why the outside system could not do a task."""

    message: str = Field(min_length=1, max_length=2000)
    business: bool = Field(
        default=False,
        description="True: a business refusal (opens a deviation); false: technical (retried)",
    )


class TaskDone(BaseModel):
    """The outcome of completing or failing a task."""

    task_id: str
    state: str


TaskClient = Annotated[Principal, Depends(allowed(scopes={"tasks"}))]


@router.post("/tasks/{task_id}/complete", response_model=TaskDone, responses=NOT_FOUND)
async def complete_task(
    request: Request,
    ctx: Ctx,
    task_id: TaskId,
    body: TaskCompletion,
    key: IdempotencyKey,
    who: TaskClient,
) -> JSONResponse:
    """Complete a task an activity handed to this external system."""

    async def act() -> Answer:
        handle = _open_task(ctx, task_id)
        output = StepOutput(results=body.results, lots=body.lots, data=body.data)
        try:
            await handle.complete(output)
        except RPCError as err:
            raise _task_problem(err) from err
        ctx.tasks.finish(task_id, "completed", who.id)
        return 200, TaskDone(task_id=task_id, state="completed")

    return await once(request, ctx, who, key, body, act)


@router.post("/tasks/{task_id}/fail", response_model=TaskDone, responses=NOT_FOUND)
async def fail_task(
    request: Request,
    ctx: Ctx,
    task_id: TaskId,
    body: TaskFailure,
    key: IdempotencyKey,
    who: TaskClient,
) -> JSONResponse:
    """Fail a task: a business refusal becomes a deviation, a technical one is retried."""

    async def act() -> Answer:
        handle = _open_task(ctx, task_id)
        error = ApplicationError(
            body.message,
            type=BusinessError.BUSINESS_FAILURE if body.business else "ExternalTaskFailed",
            non_retryable=body.business,
        )
        try:
            await handle.fail(error)
        except RPCError as err:
            raise _task_problem(err) from err
        ctx.tasks.finish(task_id, "failed", who.id)
        return 200, TaskDone(task_id=task_id, state="failed")

    return await once(request, ctx, who, key, body, act)


def _open_task(ctx: Ctx, task_id: str) -> Any:
    task = ctx.tasks.get(task_id)
    if task is None:
        raise HTTPException(404, f"no task {task_id}")
    if task.state != "open":
        raise HTTPException(409, f"task {task_id} is already {task.state}")
    return ctx.temporal().get_async_activity_handle(task_token=task.task_token)


def _task_problem(err: RPCError) -> HTTPException:
    if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
        return HTTPException(409, f"the activity no longer waits for this task: {err.message}")
    return HTTPException(503, f"Temporal is unavailable: {err.message}")
