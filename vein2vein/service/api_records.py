"""Regulated records over HTTP, read from the ledger (so they outlive Temporal's retention):
lot genealogy, the electronic batch record, FHIR R5 resources; and the sites' booked and free
manufacturing lanes, kept beside them.

A running batch's record is exported too, from the workflow's `record` query as the console
reads it, through the same renderer, marked "in progress": it is not the final record."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict

from records import (
    Genealogy,
    LotUse,
    RecordNotFound,
    biologically_derived_product,
    biologically_derived_product_dispense,
    is_final,
    load_record,
    render_html,
    render_json,
)
from records.reservations import DayCapacity, Reservations
from vein2vein.service.api_common import NOT_FOUND, BatchId
from vein2vein.service.auth import READERS, Ctx, Principal, allowed
from vein2vein.service.batches import definition_of, fetch_record
from vein2vein.service.context import ServiceContext
from vein2vein.service.temperature import legs_for
from workflows.model import BatchRecord, Pseudonym

router = APIRouter(prefix="/api", tags=["records"])
Reader = Annotated[Principal, Depends(allowed(scopes={"read"}, roles=READERS))]
Lot = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._-]+$")]


@router.get("/lots/{lot}/where-used", response_model=list[LotUse])
async def where_used(ctx: Ctx, _: Reader, lot: Lot) -> list[LotUse]:
    """Every batch and COI that consumed `lot` or a lot made from it, at any depth, each with
    the path it came by (empty when none did)."""
    return await asyncio.to_thread(Genealogy(ctx.ledger.engine).where_used, lot)


@router.get("/batches/{batch_id}/ebr", responses=NOT_FOUND, response_model=None)
async def batch_record_export(
    ctx: Ctx, _: Reader, batch_id: BatchId, format: Literal["html", "json"] = "html"
) -> HTMLResponse | JSONResponse:
    """The electronic batch record, opening with review by exception: a closed batch's final
    record rebuilt from the ledger; a running batch's record marked "in progress"."""
    rec = await _exported_record(ctx, batch_id)
    verification = ctx.ledger.verify(batch_id)
    legs = await legs_for(ctx, rec)
    tz = ctx.settings.time_zone
    if format == "json":
        return JSONResponse(
            json.loads(render_json(rec, verification=verification, legs=legs, tz=tz))
        )
    return HTMLResponse(render_html(rec, verification=verification, legs=legs, tz=tz))


async def _exported_record(ctx: ServiceContext, batch_id: str) -> BatchRecord:
    """The ledger's closed record, else the live one (workflow first, then the ledger's latest
    snapshot: `fetch_record`); the stored snapshot still serves when Temporal cannot answer."""
    try:
        stored: BatchRecord | None = await asyncio.to_thread(load_record, ctx.ledger, batch_id)
    except RecordNotFound:
        stored = None
    if stored is not None and is_final(stored):
        return stored
    try:
        return await fetch_record(ctx, batch_id)
    except HTTPException:
        if stored is None:
            raise
        return stored


@router.get("/batches/{batch_id}/fhir", responses=NOT_FOUND)
async def batch_fhir(ctx: Ctx, _: Reader, batch_id: BatchId) -> dict[str, Any]:
    """The FHIR R5 BiologicallyDerivedProduct for the batch, its category from the batch's
    definition."""
    rec = await _ledger_record(ctx, batch_id)
    defn = await definition_of(ctx, rec)
    category = defn.product_category if defn is not None else None
    return biologically_derived_product(rec, category=category)


class DispenseRequest(BaseModel):
    """Whom the product is dispensed to, as the treatment centre knows the patient."""

    model_config = ConfigDict(extra="forbid")

    patient_pseudonym: Pseudonym


@router.post("/batches/{batch_id}/fhir/dispense", responses=NOT_FOUND)
async def batch_fhir_dispense(
    ctx: Ctx, _: Reader, batch_id: BatchId, body: DispenseRequest
) -> dict[str, Any]:
    """The FHIR R5 BiologicallyDerivedProductDispense of the batch's product to the patient.

    vein2vein never stores the patient's pseudonym, so the treatment centre names it; it is
    sent in the body (a POST that changes nothing) so that it stays out of URLs and access
    logs."""
    rec = await _ledger_record(ctx, batch_id)
    return biologically_derived_product_dispense(rec, patient_pseudonym=body.patient_pseudonym)


async def _ledger_record(ctx: ServiceContext, batch_id: str) -> BatchRecord:
    try:
        return await asyncio.to_thread(load_record, ctx.ledger, batch_id)
    except RecordNotFound as err:
        raise HTTPException(404, str(err)) from err


SiteId = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._-]+$")]


@router.get("/capacity/{site}", responses=NOT_FOUND, response_model=list[DayCapacity])
async def site_capacity(
    ctx: Ctx,
    _: Reader,
    site: SiteId,
    start: Annotated[date | None, Query(description="First day (default: today)")] = None,
    days: Annotated[int, Query(ge=1, le=92)] = 14,
) -> list[DayCapacity]:
    """Each day's booked lanes (lane -> batch) and free lanes at a configured site."""
    configured = ctx.sites.sites.get(site)
    if configured is None:
        raise HTTPException(404, f"no site {site} is configured")
    first = start or (await ctx.clock()).date()
    return Reservations(ctx.ledger.engine).capacity(site, configured.lanes, first, days)
