"""Client-side entry points: the one path by which the CLI, the service, integration services
and the simulated world start batches, report events, decide and read records.

Nothing here runs inside a workflow.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    TLSConfig,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.converter import PayloadCodec
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from workflows.bounds import check_bounds
from workflows.codec import data_converter
from workflows.definition import CompiledDefinition
from workflows.model import (
    RECALL_ALREADY_INFUSED,
    BatchOrder,
    BatchRecord,
    BatchStart,
    BatchStatus,
    DecisionReceipt,
    EventAck,
    ExternalEvent,
    LotRecall,
    Order,
    SignedDecision,
)

T = TypeVar("T")

TASK_QUEUE = "vein2vein"
#: How long one update RPC may wait for its outcome before it is sent again (None: the SDK's
#: default; the time-skipping test server cannot poll an update that outlives a shorter
#: deadline), and how many times it is sent: a slow machine or a busy workflow is waited out,
#: never taken as a refusal.
UPDATE_RPC_TIMEOUT: timedelta | None = None
UPDATE_ATTEMPTS = 6
#: Answers that mean "not yet", never "no": the server was unavailable or busy (10 updates
#: already in flight).
_TRANSIENT = {
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
}
#: How the server answers an update whose workflow task failed before the batch accepted or
#: refused it (seen after a server restart: the worker refused a redelivered, already completed
#: update and its task failed). Sent again under the same id, the update is answered with its
#: recorded outcome, or offered to the batch afresh.
_TASK_FAILED = "unexpected workflow task failure"


#: The server's failure type for an update the worker never handled: the workflow task that
#: carried it completed without it (the SDK dropped it while a restarted worker caught up).
#: The batch never saw it, so it is offered again under a new id (an id's outcome is final).
_UNPROCESSED = "UnprocessedUpdate"


def unprocessed(err: WorkflowUpdateFailedError) -> bool:
    """Whether an update failed because no worker handled it, not because the batch refused."""
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == _UNPROCESSED


def gone(err: RPCError) -> bool:
    """Whether an update's RPC error means its batch can never take it (no such batch, or it
    has closed). An update whose RPC timed out under load can be "not found" afterwards: that
    is not final, and resending it is safe (a batch acknowledges a repeated event id as a
    duplicate)."""
    text = str(err).lower()
    if text.startswith("update ") and "not found" in text:
        return False
    return "not found" in text or "completed" in text


async def _pause(attempt: int) -> None:
    """Wait before sending an update again: 1 s, 2 s, 4 s, then 8 s at most."""
    await asyncio.sleep(min(0.5 * 2**attempt, 8.0))


def _transient(err: RPCError) -> bool:
    """Whether an update RPC's error means "not yet" rather than "no"."""
    if err.status in _TRANSIENT:
        return True
    return err.status == RPCStatusCode.FAILED_PRECONDITION and _TASK_FAILED in err.message


DEFAULT_NAMESPACE = "default"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_batch_id() -> str:
    """A random batch id: it becomes the workflow id, so it carries no patient data."""
    return "B-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


async def connect(
    address: str,
    namespace: str = DEFAULT_NAMESPACE,
    *,
    tls_cert: bytes | None = None,
    tls_key: bytes | None = None,
    tls_ca: bytes | None = None,
    payload_codec: PayloadCodec | None = None,
    **kwargs: Any,
) -> Client:
    """A client with the pydantic data converter (the one every part of vein2vein uses) and,
    when given, the payload codec that encrypts what it sends to Temporal (`workflows.codec`);
    a worker built on the client uses the same converter."""
    tls: TLSConfig | bool = False
    if tls_cert or tls_ca:
        tls = TLSConfig(
            client_cert=tls_cert, client_private_key=tls_key, server_root_ca_cert=tls_ca
        )
    return await Client.connect(
        address,
        namespace=namespace,
        tls=tls,
        data_converter=data_converter(payload_codec),
        **kwargs,
    )


class OrderRefused(ValueError):
    """An order does not fit its product; `problems` says each way it does not."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


async def start_batch(
    client: Client,
    definition: CompiledDefinition,
    order: Order,
    *,
    batch_id: str | None = None,
    task_queue: str = TASK_QUEUE,
) -> WorkflowHandle[Any, Any]:
    """Start a batch of `definition` for `order`; the definition is pinned in the input.

    Raises `OrderRefused` (and starts nothing) when the order does not fit the product: a
    party without a site, an unknown party or option, a choice not offered. The start input
    names no keys: the keys whose decisions the batch accepts are the worker's (its key
    registry), never the caller's."""
    check_bounds(order)
    problems = definition.order_problems(order.sites, order.options)
    if problems:
        raise OrderRefused(problems)
    start = BatchStart(
        batch_id=batch_id or new_batch_id(),
        order=BatchOrder.of(order),
        definition=definition.model_dump(mode="json"),
    )
    return await client.start_workflow(
        definition.product,
        start,
        id=start.batch_id,
        task_queue=task_queue,
    )


async def send_update(
    client: Client, batch_id: str, update: str, arg: BaseModel, result_type: type[T]
) -> T:
    """Send an update to a batch, waiting out a slow machine or a busy server: an RPC that
    timed out is sent again under the same update id (Temporal runs it once and returns its
    outcome); one refused for a busy or unavailable server, or failed with the workflow task
    that carried it, is sent again after a pause, and one the server rejected because no
    worker handled it (`unprocessed`) is offered again under a new id; each up to
    `UPDATE_ATTEMPTS` times. A refusal by the batch (`WorkflowUpdateFailedError`) and any
    other error pass straight through: "update not found" means the server lost an update it
    never accepted, which the caller may send afresh (`deliver_report` does, as an activity
    retry)."""
    handle = client.get_workflow_handle(batch_id)
    update_id = str(uuid.uuid4())
    for attempt in range(1, UPDATE_ATTEMPTS + 1):
        try:
            result: T = await handle.execute_update(
                update, arg, id=update_id, result_type=result_type, rpc_timeout=UPDATE_RPC_TIMEOUT
            )
            return result
        except WorkflowUpdateFailedError as err:
            if attempt == UPDATE_ATTEMPTS or not unprocessed(err):
                raise
            update_id = str(uuid.uuid4())
            await _pause(attempt)
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            task = asyncio.current_task()
            if attempt == UPDATE_ATTEMPTS or (task is not None and task.cancelling()):
                raise
        except RPCError as err:
            if attempt == UPDATE_ATTEMPTS or not _transient(err):
                raise
            await _pause(attempt)
    raise AssertionError("unreachable")


async def report_event(client: Client, event: ExternalEvent) -> EventAck:
    """Report an outside-world event to its batch; raises if the batch refuses it (`TooLarge`
    before sending, when a field is over its bound in `workflows.bounds`)."""
    check_bounds(event)
    return await send_update(client, event.batch_id, "report_event", event, EventAck)


async def decide(client: Client, batch_id: str, decision: SignedDecision) -> DecisionReceipt:
    """Submit a signed decision; raises `WorkflowUpdateFailedError` with the refusal reason
    (`TooLarge` before sending, when a field is over its bound)."""
    check_bounds(decision)
    return await send_update(client, batch_id, "decide", decision, DecisionReceipt)


async def get_record(
    client: Client, batch_id: str, *, rpc_timeout: timedelta | None = None
) -> BatchRecord:
    """The batch record as the workflow knows it now."""
    handle = client.get_workflow_handle(batch_id)
    record: BatchRecord = await handle.query(
        "record", result_type=BatchRecord, rpc_timeout=rpc_timeout
    )
    return record


async def settled_record(
    client: Client, batch_id: str, target: str, *, timeout: float = 10.0
) -> BatchRecord:
    """The record once the batch has acted on an accepted decision on `target`: the gate or
    deviation is no longer awaited, and a withdrawal (`target` is the batch) has unwound.

    A decision's receipt carries the status at the moment it was accepted, before the batch
    moved on; a person who just released or abandoned a batch must see where it now stands.
    After `timeout` seconds (a busy worker) the latest record is returned as it is."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while True:
        rec = await get_record(client, batch_id)
        still = any(a.target == target for a in rec.awaiting)
        unwinding = target == batch_id and rec.status != BatchStatus.ABANDONED
        if not (still or unwinding) or loop.time() >= give_up:
            return rec
        await asyncio.sleep(0.2)


async def pinned_definition(client: Client, batch_id: str) -> CompiledDefinition | None:
    """The definition `batch_id` is pinned to, read from its current run's start input; None
    when the start input holds none."""
    handle = client.get_workflow_handle(batch_id)
    async for event in handle.fetch_history_events(page_size=1):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        if not payloads:
            return None
        (start,) = await client.data_converter.decode(payloads, [BatchStart])
        if not isinstance(start, BatchStart):
            return None
        return CompiledDefinition.model_validate(start.definition)
    return None


class RecallTarget(BaseModel):
    """A batch a recall reaches: the lot it consumed itself (None: the recalled lot) and the
    path from the recalled lot down to it (lots made from lots)."""

    batch_id: str
    coi: str | None = None
    lot: str | None = None
    path: tuple[str, ...] = ()


class RecallOutcome(BaseModel):
    """What a recall did to one batch that consumed the lot, or a lot made from it."""

    batch_id: str
    coi: str | None
    held: bool = False
    reason: str = ""
    #: Already infused: not held (nothing left to hold) but listed for the patient's follow-up.
    administered: bool = False
    #: The lot the batch consumed itself, and the path the recalled lot took to it.
    lot: str | None = None
    path: tuple[str, ...] = ()


async def recall_lot(
    client: Client, uses: Sequence[tuple[str, str | None] | RecallTarget], recall: LotRecall
) -> list[RecallOutcome]:
    """Hold every batch in `uses` (batch id and COI, or a `RecallTarget`) that is not yet
    infused, and list those already infused as administered; report each.

    A batch reached through a lot made from the recalled one is sent the recall of the lot it
    consumed itself (the only lot it knows), with the path in the reason. Raises `TooLarge`
    (and sends nothing) when a field is over its bound."""
    targets = [
        u if isinstance(u, RecallTarget) else RecallTarget(batch_id=u[0], coi=u[1]) for u in uses
    ]
    sent = [_recall_for(t, recall) for t in targets]
    for each in sent:
        check_bounds(each)
    outcomes = []
    for target, each in zip(targets, sent, strict=True):
        found = RecallOutcome(
            batch_id=target.batch_id, coi=target.coi, lot=each.lot, path=target.path
        )
        try:
            await send_update(client, target.batch_id, "recall_lot", each, EventAck)
            outcomes.append(found.model_copy(update={"held": True, "reason": "held"}))
        except WorkflowUpdateFailedError as err:
            reason = str(err.cause.message if err.cause else err)  # type: ignore[attr-defined]
            administered = RECALL_ALREADY_INFUSED in reason
            outcomes.append(
                found.model_copy(update={"reason": reason, "administered": administered})
            )
        except RPCError as err:
            outcomes.append(found.model_copy(update={"reason": f"closed: {err}"}))
    return outcomes


def _recall_for(target: RecallTarget, recall: LotRecall) -> LotRecall:
    if target.lot is None or target.lot == recall.lot:
        return recall
    via = " -> ".join(target.path or (recall.lot, target.lot))
    return recall.model_copy(
        update={"lot": target.lot, "reason": f"{recall.reason} (recall of {recall.lot} via {via})"}
    )
