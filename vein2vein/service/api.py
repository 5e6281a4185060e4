"""The integration API (JSON under /api): products, batch status and records, orders, events.

Every POST takes an `Idempotency-Key`; a repeat returns the first answer and changes nothing.
Malformed, unknown or out-of-order input gets a 4xx with the reason and changes nothing.
People's endpoints are in `api_people`, external tasks in `api_tasks`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.openapi.models import Example
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from definitions import CATALOG
from records.approvals import Approvals
from records.temperature import SeriesReadings
from vein2vein.examples import examples_by_type
from vein2vein.service.api_common import NOT_FOUND, BatchId, IdempotencyKey, In, once
from vein2vein.service.auth import READERS, Ctx, Principal, allowed, principal
from vein2vein.service.batches import BatchSummary, fetch_record, records
from vein2vein.service.idempotency import Answer
from vein2vein.service.orders import NotApproved, OrderTaken, start_order
from vein2vein.service.temperature import attach_series
from vein2vein.service.tokens import scopes_for_event
from workflows.bounds import BoundedCustody, BoundedOrder, Data, Lots, Results
from workflows.client import report_event
from workflows.model import (
    BATCH_ID_PATTERN,
    BatchRecord,
    BatchStatus,
    CustodyReport,
    EventAck,
    ExternalEvent,
    Role,
)

router = APIRouter(prefix="/api", tags=["integration"])


class StartBatch(In):
    """Start a batch of `product` for a treatment order."""

    product: str = Field(min_length=1, max_length=80)
    order: BoundedOrder


class BatchStarted(BaseModel):
    """A started batch."""

    batch_id: str
    product: str
    definition_version: str
    order_id: str


class EventReport(In):
    """An outside-world report; `reporter` defaults to (and must be) the authenticated caller."""

    event_id: str = Field(min_length=1, max_length=200)
    batch_id: str = Field(pattern=BATCH_ID_PATTERN)
    step: str = Field(min_length=1, max_length=80)
    type: str = Field(min_length=1, max_length=80)
    occurred_at: datetime
    outcome: str = Field(default="ok", max_length=80)
    results: Results = Field(default_factory=dict)
    custody: BoundedCustody | None = None
    temperature_series: SeriesReadings | None = Field(
        default=None,
        description="The logger's readings for a custody report: stored by the service, which"
        " sends the workflow only the summary it computes from them",
    )
    lots: Lots = Field(default_factory=list)
    data: Data = Field(default_factory=dict)
    reporter: str | None = Field(default=None, max_length=80)


#: One example body per event type of the built-in products, for the API documentation
#: (`vein2vein definitions example-event` gives any product's, for any step).
EVENT_EXAMPLES: dict[str, Example] = {
    event: Example(summary=f"{event} (step {body['step']})", value=body)
    for event, body in examples_by_type(CATALOG).items()
}


class ProductInfo(BaseModel):
    """A product this deployment runs."""

    product: str
    version: str
    title: str
    content_hash: str


# -- reading ------------------------------------------------------------------------------


@router.get("/health", tags=["meta"])
async def health() -> dict[str, str]:
    """Liveness: the service answers."""
    return {"status": "ok"}


Reader = Annotated[Principal, Depends(allowed(scopes={"read"}, roles=READERS))]


@router.get("/products", response_model=list[ProductInfo])
async def products(ctx: Ctx, _: Reader) -> list[ProductInfo]:
    """Every product this deployment runs."""
    return [
        ProductInfo(
            product=d.product, version=d.version, title=d.title, content_hash=d.content_hash
        )
        for d in ctx.catalog.values()
    ]


@router.get("/batches", response_model=list[BatchSummary])
async def list_batches(
    ctx: Ctx,
    _: Reader,
    product: Annotated[str | None, Query(max_length=80)] = None,
    site: Annotated[str | None, Query(max_length=80)] = None,
    status: BatchStatus | None = None,
) -> list[BatchSummary]:
    """The batch board: status, stage, next deadline, open deviations; filterable."""
    found = await records(ctx, product=product, status=status, site=site)
    return [BatchSummary.of(r) for r in found]


@router.get("/batches/{batch_id}", response_model=BatchSummary, responses=NOT_FOUND)
async def batch_status(ctx: Ctx, _: Reader, batch_id: BatchId) -> BatchSummary:
    """One batch's status."""
    return BatchSummary.of(await fetch_record(ctx, batch_id))


@router.get("/batches/{batch_id}/record", response_model=BatchRecord, responses=NOT_FOUND)
async def batch_record(ctx: Ctx, _: Reader, batch_id: BatchId) -> BatchRecord:
    """The whole batch record, with the hash a signer signs."""
    return await fetch_record(ctx, batch_id)


# -- orders and events ---------------------------------------------------------------------


@router.post(
    "/batches",
    status_code=201,
    response_model=BatchStarted,
    responses={
        409: {
            "description": "The order already started a batch, or the product's version is"
            " not approved for use"
        }
    },
)
async def start(
    request: Request,
    ctx: Ctx,
    body: StartBatch,
    key: IdempotencyKey,
    who: Annotated[Principal, Depends(allowed(scopes={"orders"}, roles={Role.OPERATOR}))],
) -> JSONResponse:
    """Start a batch from a treatment order (the patient's pseudonym never enters Temporal)."""

    if who.site is not None and who.site not in body.order.sites.values():
        raise HTTPException(
            403, f"this token reports for site {who.site}, which the order names not"
        )

    async def act() -> Answer:
        defn = ctx.catalog.get(body.product)
        if defn is None:
            known = ", ".join(sorted(ctx.catalog))
            raise HTTPException(422, f"unknown product '{body.product}'; known: {known}")
        o = body.order
        problems = ctx.sites.order_problems(defn, o)
        if problems:
            raise HTTPException(422, "; ".join(problems))
        try:
            approvals = Approvals(ctx.ledger) if ctx.settings.require_approval else None
            handle = await start_order(
                ctx.temporal(), ctx.orders, defn, o, by=who.id, approvals=approvals
            )
        except (OrderTaken, NotApproved) as e:
            raise HTTPException(409, str(e)) from e
        started = BatchStarted(
            batch_id=handle.id,
            product=defn.product,
            definition_version=defn.version,
            order_id=o.order_id,
        )
        return 201, started

    return await once(request, ctx, who, key, body, act)


@router.post(
    "/events",
    response_model=EventAck,
    responses={**NOT_FOUND, 409: {"description": "The batch refused the event; reason given"}},
)
async def post_event(
    request: Request,
    ctx: Ctx,
    body: Annotated[EventReport, Body(openapi_examples=EVENT_EXAMPLES)],
    key: IdempotencyKey,
    who: Annotated[Principal, Depends(principal)],
) -> JSONResponse:
    """Report an event (custody with temperature, MES step, LIMS result, bedside scan)."""
    scopes = scopes_for_event(body.type)
    if not who.may(scopes=scopes, roles=frozenset({Role.OPERATOR})):
        needs = " or ".join(sorted(scopes)) or "no integration scope covers this event type"
        raise HTTPException(403, f"may not report '{body.type}' events: needs {needs}")
    if body.reporter not in (None, who.id):
        raise HTTPException(403, f"reporter must be the authenticated caller '{who.id}'")
    if who.site is not None:
        await _check_site(ctx, who.site, body.batch_id)

    async def act() -> Answer:
        custody: CustodyReport | None = body.custody
        if body.temperature_series is not None:
            custody = await attach_series(
                ctx, body.batch_id, body.step, custody, body.temperature_series
            )
        fields = body.model_dump(exclude={"reporter", "temperature_series", "custody"})
        event = ExternalEvent(**fields, custody=custody, reporter=who.id)
        try:
            ack = await report_event(ctx.temporal(), event)
        except WorkflowUpdateFailedError as err:
            reason = getattr(err.cause, "message", None) or str(err.cause or err)
            raise HTTPException(409, reason) from err
        except RPCError as err:
            raise await closed_or_missing(ctx, err, body.batch_id) from err
        return 200, ack

    return await once(request, ctx, who, key, body, act)


async def _check_site(ctx: Ctx, site: str, batch_id: str) -> None:
    """403 unless the batch's order names `site` (for any party): a token scoped to one site
    reports only for batches that site takes part in."""
    try:
        rec = await fetch_record(ctx, batch_id)
    except HTTPException as err:
        if err.status_code != 404:
            raise
        rec = None  # 403 as for another site's batch: the answer does not tell it exists
    if rec is None or site not in rec.sites.values():
        raise HTTPException(
            403, f"this token is for site {site}; batch {batch_id} does not name it"
        )


async def closed_or_missing(ctx: Ctx, err: RPCError, batch_id: str) -> HTTPException:
    """The HTTP answer to an update Temporal could not deliver: closed (409) or unknown (404)."""
    if err.status == RPCStatusCode.NOT_FOUND:
        try:
            await ctx.temporal().get_workflow_handle(batch_id).describe()
        except RPCError:
            return HTTPException(404, f"no batch {batch_id}")
        return HTTPException(409, f"batch {batch_id} is closed")
    if err.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION):
        return HTTPException(409, err.message)
    return HTTPException(503, f"Temporal is unavailable: {err.message}")
