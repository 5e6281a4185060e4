"""Reading batches: records (Temporal first, the ledger when Temporal forgot), the board, the inbox.

The service never writes state here; it reads the workflow's `record` query and the ledger.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from typing import Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from records import RecordNotFound, load_record
from vein2vein.service.context import ServiceContext
from workflows.authority import Authority, TargetKind
from workflows.client import get_record, pinned_definition
from workflows.definition import CompiledDefinition
from workflows.model import Awaiting, AwaitKind, BatchRecord, BatchStatus, Clock, Role
from workflows.offers import open_decisions

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
BOARD_LIMIT = 200
#: How long the board reuses a running batch's record (many consoles poll the same board).
BOARD_TTL = 2.0


class BatchSummary(BaseModel):
    """One line of the batch board."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    product: str
    definition_version: str
    status: BatchStatus
    stage: str | None
    coi: str | None
    sites: dict[str, str]
    next_deadline: datetime | None
    waiting_for: list[str]
    awaiting: list[Awaiting]
    clocks: list[Clock]
    open_deviations: list[str]
    released: bool

    @classmethod
    def of(cls, rec: BatchRecord) -> BatchSummary:
        """The summary of a record."""
        return cls(
            batch_id=rec.batch_id,
            product=rec.product,
            definition_version=rec.definition_version,
            status=rec.status,
            stage=rec.stage,
            coi=rec.coi,
            sites=rec.sites,
            next_deadline=rec.next_deadline,
            waiting_for=rec.waiting_for,
            awaiting=rec.awaiting,
            clocks=rec.clocks,
            open_deviations=[d.deviation_id for d in rec.open_deviations()],
            released=rec.released,
        )


class InboxItem(BaseModel):
    """A decision waiting for one of the reader's roles."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    product: str
    status: BatchStatus
    target: str
    kind: Literal["gate", "deviation", "record"]
    description: str
    roles: list[Role]
    release: bool = False


def _rpc_problem(err: RPCError, batch_id: str) -> HTTPException:
    if err.status == RPCStatusCode.NOT_FOUND:
        return HTTPException(404, f"no batch {batch_id}")
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        return HTTPException(422, err.message)
    return HTTPException(503, f"Temporal is unavailable: {err.message}")


async def fetch_record(ctx: ServiceContext, batch_id: str) -> BatchRecord:
    """The batch record from its workflow, or from the ledger once Temporal forgot it; or 404."""
    try:
        return await get_record(ctx.temporal(), batch_id)
    except WorkflowQueryFailedError as err:
        raise HTTPException(409, f"batch {batch_id} cannot be read now: {err}") from err
    except (ValueError, TypeError) as err:  # a workflow of that id that is not a batch
        raise HTTPException(409, f"{batch_id} is not a batch this service can read") from err
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise _rpc_problem(err, batch_id) from err
    try:
        return await asyncio.to_thread(load_record, ctx.ledger, batch_id)
    except (RecordNotFound, ValueError) as err:
        raise HTTPException(404, f"no batch {batch_id}") from err


async def definition_of(ctx: ServiceContext, rec: BatchRecord) -> CompiledDefinition | None:
    """The definition the batch is pinned to: the catalog's if the hash matches, else the one
    in the workflow's start input, else (history gone) the catalog's current one."""
    current = ctx.catalog.get(rec.product)
    if current is not None and current.content_hash == rec.definition_hash:
        return current
    if rec.definition_hash in ctx.definitions:
        return ctx.definitions[rec.definition_hash]
    try:
        pinned = await pinned_definition(ctx.temporal(), rec.batch_id)
    except (RPCError, ValueError):
        pinned = None
    if pinned is not None and pinned.content_hash == rec.definition_hash:
        ctx.definitions[rec.definition_hash] = pinned
        return pinned
    return current


def safe_filter(value: str | None, what: str) -> str | None:
    """`value` if safe inside a visibility query, else 422."""
    if value is None or value == "":
        return None
    if not _SAFE_VALUE.fullmatch(value):
        raise HTTPException(422, f"invalid {what} filter {value!r}")
    return value


async def batch_ids(
    ctx: ServiceContext, product: str | None, status: BatchStatus | None
) -> list[str]:
    """Batch ids, newest first where the server can list workflows; else from the stores."""
    client = ctx.temporal()
    if ctx.can_list:
        clauses = ["BatchProduct IS NOT NULL"]
        if product:
            clauses.append(f"BatchProduct = '{product}'")
        if status:
            clauses.append(f"BatchStatus = '{status.value}'")
        try:
            found = client.list_workflows(" AND ".join(clauses), limit=BOARD_LIMIT)
            return [wf.id async for wf in found]
        except RPCError as err:
            if err.status != RPCStatusCode.UNIMPLEMENTED:
                raise _rpc_problem(err, "list") from err
            ctx.can_list = False  # e.g. the time-skipping test server
    known = set(await asyncio.to_thread(ctx.ledger.batches)) | set(ctx.orders.batch_ids())
    return sorted(known, reverse=True)[:BOARD_LIMIT]


async def records(
    ctx: ServiceContext,
    *,
    product: str | None = None,
    status: BatchStatus | None = None,
    site: str | None = None,
) -> list[BatchRecord]:
    """The records of the board's batches, filtered, most urgent deadline first."""
    product, site = safe_filter(product, "product"), safe_filter(site, "site")
    ids = await batch_ids(ctx, product, status)
    limit = asyncio.Semaphore(8)

    async def one(batch_id: str) -> BatchRecord | None:
        cached = ctx.board_cache.get(batch_id)
        if cached is not None:
            at, rec = cached
            if rec.finished or time.monotonic() - at < BOARD_TTL:
                return rec  # closed records never change; running ones live BOARD_TTL
        async with limit:
            try:
                rec = await fetch_record(ctx, batch_id)
            except HTTPException:
                return None  # vanished or unreadable: not on the board
        ctx.board_cache[batch_id] = (time.monotonic(), rec)
        return rec

    if len(ctx.board_cache) > 20 * BOARD_LIMIT:
        ctx.board_cache.clear()
    found = [r for r in await asyncio.gather(*(one(b) for b in ids)) if r is not None]
    chosen = [
        r
        for r in found
        if (product is None or r.product == product)
        and (status is None or r.status == status)
        and (site is None or site in r.sites.values())
    ]
    far = datetime.max.replace(tzinfo=None)
    return sorted(
        chosen,
        key=lambda r: (
            r.next_deadline.replace(tzinfo=None) if r.next_deadline else far,
            r.batch_id,
        ),
    )


def gates_awaiting(rec: BatchRecord) -> set[str]:
    """The gates whose decision the batch awaits, from the typed `awaiting` the engine
    publishes (kind DECISION; never read back from display text)."""
    return {a.target for a in rec.awaiting if a.kind == AwaitKind.DECISION}


async def inbox_items(
    ctx: ServiceContext, recs: list[BatchRecord], roles: tuple[Role, ...], user_id: str | None
) -> list[InboxItem]:
    """What in `recs` waits for a decision that `user_id`, holding `roles`, may make
    (`workflows.offers.open_decisions`; withdrawal is no inbox item)."""
    items: list[InboxItem] = []
    for rec in recs:
        gates = gates_awaiting(rec)
        defn = await definition_of(ctx, rec) if gates else None
        found = open_decisions(defn, rec, awaiting_gates=gates, roles=roles, user_id=user_id)
        items.extend(_item(rec, a) for a in found if a.kind != TargetKind.BATCH)
    return items


def about(auth: Authority) -> str:
    """What a decision is about, as its form and the inbox say it."""
    dev = auth.deviation
    return auth.meaning if dev is None else f"{dev.kind.value} at {dev.step}: {dev.description}"


def _item(rec: BatchRecord, auth: Authority) -> InboxItem:
    return InboxItem(
        batch_id=rec.batch_id,
        product=rec.product,
        status=rec.status,
        target=auth.target,
        kind=auth.kind.value,
        description=about(auth),
        roles=list(auth.roles),
        release=auth.gate is not None and auth.gate.release,
    )
