"""The console's operations pages: the board, the QA deviation queue and the capacity view,
and `page`, which renders any console page in the deployment's time zone.

Every view is reproduced by its link: filters and order are query parameters, never state
kept in the session or the browser.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict

from vein2vein.service.auth import Ctx, Principal, console_user, csrf_token
from vein2vein.service.batches import records
from vein2vein.service.board import SORT_LABELS, Sort, board_row, parse_sort, sort_rows
from vein2vein.service.board_queues import deviation_queue, manufacturing_sites, site_capacity
from vein2vein.service.templates import render_page
from workflows.model import BatchStatus

router = APIRouter(include_in_schema=False)
Who = Annotated[Principal, Depends(console_user)]
#: Seconds between a console page's live-update polls.
REFRESH_SECONDS = 3


def page(
    request: Request,
    ctx: Ctx,
    name: str,
    title: str,
    who: Principal | None,
    *,
    status_code: int = 200,
    refresh: int | None = None,
    **values: object,
) -> HTMLResponse:
    """The console page `name`, whole or (for a live-update poll, `X-Partial: 1`) its content
    alone, with moments in the deployment's zone (`Settings.time_zone`)."""
    html = render_page(
        name,
        title=title,
        partial=request.headers.get("x-partial") == "1",
        who=who,
        csrf=csrf_token(ctx, who) if who is not None else "",
        refresh=refresh,
        tz=ctx.settings.time_zone,
        **values,
    )
    return HTMLResponse(html, status_code=status_code)


class SortLink(BaseModel):
    """One of the board's orders, as a link that keeps the chosen filters."""

    model_config = ConfigDict(frozen=True)

    key: str
    label: str
    href: str
    current: bool


def _sort_links(filters: dict[str, str], chosen: Sort) -> list[SortLink]:
    kept = {k: v for k, v in filters.items() if v}
    return [
        SortLink(
            key=s.value,
            label=label,
            href="/console?" + urlencode({**kept, "sort": s.value}),
            current=s == chosen,
        )
        for s, label in SORT_LABELS.items()
    ]


@router.get("/console")
async def board(
    request: Request,
    ctx: Ctx,
    who: Who,
    product: str = "",
    site: str = "",
    status: str = "",
    sort: str = "",
) -> HTMLResponse:
    """Every batch: what it awaits and since when, its running clocks coloured by risk, its
    next deadline and open deviations; filtered by product, site and status and sorted by
    `sort` (urgency, the default; waiting; batch)."""
    chosen = BatchStatus(status) if status in set(BatchStatus) else None
    order = parse_sort(sort)
    recs = await records(ctx, product=product or None, site=site or None, status=chosen)
    now = await ctx.clock()
    filters = {"product": product, "site": site, "status": status}
    return page(
        request,
        ctx,
        "board",
        "Batches",
        who,
        rows=sort_rows((board_row(r, now) for r in recs), order),
        products=sorted(ctx.catalog),
        sites=sorted(ctx.sites.sites),
        statuses=[s.value for s in BatchStatus],
        f=filters,
        sort=order.value,
        sorts=_sort_links(filters, order),
        refresh=REFRESH_SECONDS,
    )


@router.get("/console/deviations")
async def deviations(request: Request, ctx: Ctx, who: Who) -> HTMLResponse:
    """Every open deviation of the board's batches, oldest first, with who may dispose."""
    rows = deviation_queue(await records(ctx), await ctx.clock(), who.roles)
    return page(
        request, ctx, "deviations", "Open deviations", who, rows=rows, refresh=REFRESH_SECONDS
    )


@router.get("/console/capacity")
async def capacity(
    request: Request,
    ctx: Ctx,
    who: Who,
    start: str = "",
    days: Annotated[int, Query(ge=1, le=92)] = 14,
) -> HTMLResponse:
    """Booked and free lanes of every manufacturing site, day by day (UTC days, as slots
    are booked), from `start` (default today)."""
    try:
        first = date.fromisoformat(start) if start else (await ctx.clock()).date()
    except ValueError as err:
        raise HTTPException(422, f"start {start[:20]!r} is not a date (YYYY-MM-DD)") from err
    found = manufacturing_sites(ctx.sites.sites.values())
    sites = await asyncio.to_thread(site_capacity, ctx.ledger.engine, found, first, days)
    return page(
        request,
        ctx,
        "capacity",
        "Capacity",
        who,
        sites=sites,
        start=first.isoformat(),
        days=days,
        refresh=REFRESH_SECONDS,
    )
