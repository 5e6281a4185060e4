"""The activity implementations, bound to this worker's adapters, ledger and client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities import metering
from activities.adapters import AdapterUnavailable, BusinessRefusal, SiteAdapter
from activities.catalog import SITE_ACTIVITIES, SYSTEM_ACTIVITIES
from activities.entities import EntityActivities, calculate_dose
from activities.sim_report import REPORT_WORKFLOW, ScheduledReport
from records.batch_record import RECORD_CLOSED
from records.external_tasks import register_external_task
from records.reservations import Reservations
from workflows.client import TASK_QUEUE, gone, report_event, unprocessed
from workflows.coi import CoiIssuer, DefaultCoiIssuer
from workflows.model import AuditEvent, ExternalEvent, StepCall, StepOutput

T = TypeVar("T")

_ALLOCATE_COI_DOC = "Allocate the batch's COI; the same idempotency key always yields the same COI."
_HAND_TO_EXTERNAL_DOC = (
    "Give the outside system an opaque task id (never the Temporal token); the activity "
    "completes when that system posts to /api/tasks/{id}/complete or /fail."
)


class AuditSink(Protocol):
    """Where audit events go: the ledger (see `records.Ledger`)."""

    def append(self, events: Sequence[AuditEvent]) -> int:
        """Write each event exactly once; return how many were new."""
        ...


class ChainAnchor(Protocol):
    """What signs the ledger's chain heads: `records.Checkpointer`."""

    def checkpoint(self, batch_ids: Sequence[str] | None = None) -> object:
        """Checkpoint the chains of `batch_ids` (all when None) whose head moved; idempotent."""
        ...


class Activities:
    """Every activity of vein2vein, bound to what this worker talks to."""

    def __init__(
        self,
        *,
        adapter_for: Callable[[str], SiteAdapter],
        ledger: AuditSink,
        client: Client | None = None,
        coi_issuer: CoiIssuer | None = None,
        task_queue: str = TASK_QUEUE,
        lanes: dict[str, int] | None = None,
        task_db_url: str | None = None,
        anchor: ChainAnchor | None = None,
        reservations: Reservations | None = None,
    ) -> None:
        self._reservations = reservations
        self._task_db_url = task_db_url
        self._anchor = anchor
        self._lanes = lanes or {}
        self._adapter_for = adapter_for
        self._ledger = ledger
        self._client = client
        self._issuer = coi_issuer or DefaultCoiIssuer()
        self._task_queue = task_queue

    def all(self, declared: Mapping[str, str] | None = None) -> list[Callable[..., Any]]:
        """Every activity function, ready for `Worker(activities=...)`: the framework's, and
        the site activities the products declare (`declared`: name -> description)."""
        own = {n: d for n, d in (declared or {}).items() if n not in SITE_ACTIVITIES}
        site = [
            self._site_activity(name, doc)
            for name, doc in {**SITE_ACTIVITIES, **own}.items()
            if name != "hand_to_external"
        ]
        system = [
            self._step_activity(name, SYSTEM_ACTIVITIES[name], fn)
            for name, fn in self._system_calls().items()
        ]
        return [
            *site,
            *system,
            self._step_activity("allocate_coi", _ALLOCATE_COI_DOC, self._allocate_coi),
            self._step_activity("hand_to_external", _HAND_TO_EXTERNAL_DOC, self._hand_over),
            self.project_audit,
            self.deliver_report,
        ]

    def _entities(self) -> EntityActivities:
        if self._reservations is None:
            raise ApplicationError("no reservations store configured", non_retryable=True)
        return EntityActivities(self._reservations, self._client, self._lanes)

    def _after_site(self) -> dict[str, Callable[[StepCall], Awaitable[StepOutput]]]:
        # The site's own system confirms first; then vein2vein's slot calendar records it.
        return {
            "book_slot": lambda c: self._entities().book(c),
            "release_slot": lambda c: self._entities().release(c),
            "move_slot": lambda c: self._entities().move(c),
        }

    def _system_calls(self) -> dict[str, Callable[[StepCall], Awaitable[StepOutput]]]:
        async def dose(c: StepCall) -> StepOutput:
            return calculate_dose(c)

        return {
            "calculate_dose": dose,
            "release_to_inventory": lambda c: self._entities().add_to_inventory(c),
            "allocate_doses": lambda c: self._entities().allocate(c),
            "return_doses": lambda c: self._entities().give_back(c),
        }

    def _step_activity(
        self, name: str, doc: str, fn: Callable[[StepCall], Awaitable[StepOutput]]
    ) -> Callable[[StepCall], Any]:
        """The one wrapper of every step's call: first write the audit events the call carries
        (`workflows.engine.carrying`), then act; the output says they landed."""

        async def run(call: StepCall) -> StepOutput:
            # Heartbeats show the call alive (`workflows.policy.CALL_HEARTBEAT_TIMEOUT`).
            return await _beating(act(call))

        async def act(call: StepCall) -> StepOutput:
            if call.audit:
                try:
                    await asyncio.to_thread(self._write_audit, call.audit, "call")
                except Exception as err:
                    # Retried like any technical failure; the step has not acted yet.
                    raise ApplicationError(
                        f"ledger unavailable: {err}", type="LedgerUnavailable"
                    ) from err
            output = await fn(call)
            return output.model_copy(update={"audit_landed": True}) if call.audit else output

        run.__name__ = name
        run.__doc__ = doc
        return activity.defn(name=name)(run)

    def _site_activity(self, name: str, doc: str) -> Callable[[StepCall], Any]:
        after = self._after_site().get(name)

        async def perform(call: StepCall) -> StepOutput:
            with metering.adapter_call(call.site, name, call.batch_id) as outcome:
                adapter = self._adapter_for(call.site)
                try:
                    output = await adapter.perform(call)
                except BusinessRefusal as err:
                    outcome["outcome"] = "refused"
                    raise ApplicationError(
                        str(err), type=err.error_type, non_retryable=True
                    ) from err
                except AdapterUnavailable as err:
                    outcome["outcome"] = "unavailable"
                    raise ApplicationError(str(err), type="AdapterUnavailable") from err
            if after is None:
                return output
            recorded = await after(call)
            return StepOutput(
                results={**output.results, **recorded.results},
                lots=[*output.lots, *recorded.lots],
                data={**output.data, **recorded.data},
            )

        return self._step_activity(name, doc, perform)

    async def _hand_over(self, call: StepCall) -> StepOutput:
        if self._task_db_url is None:
            raise ApplicationError("no task store configured", non_retryable=True)
        info = activity.info()
        task_id = register_external_task(
            self._task_db_url, info.task_token, call.batch_id, call.step, call.activity
        )
        handed = call.model_copy(update={"params": {**call.params, "task_id": task_id}})
        try:
            await self._adapter_for(call.site).perform(handed)
        except AdapterUnavailable as err:
            raise ApplicationError(str(err), type="AdapterUnavailable") from err
        activity.raise_complete_async()

    async def _allocate_coi(self, call: StepCall) -> StepOutput:
        return StepOutput(coi=self._issuer.allocate(call.idempotency_key))

    @activity.defn(name="project_audit")
    def project_audit(self, events: list[AuditEvent]) -> int:
        """Append audit events to the ledger; re-sent events are skipped by key. A batch whose
        "record.closed" event is among them gets its chain head checkpointed (idempotently,
        so a retry after a failed checkpoint writes nothing twice)."""
        return self._write_audit(events, "projection")

    def _write_audit(self, events: Sequence[AuditEvent], carrier: str) -> int:
        """The one way audit events reach the ledger, carried by a call or projected alone."""
        with metering.ledger_write(events, carrier):
            written = self._ledger.append(events)
        metering.ledger_written(events, written, carrier)
        closed = sorted({e.batch_id for e in events if e.action == RECORD_CLOSED})
        if closed and self._anchor is not None:
            self._anchor.checkpoint(closed)
        return written

    @activity.defn(name="deliver_report")
    async def deliver_report(self, event: ExternalEvent) -> str:
        """Deliver a report through the integration path; a refusal is final."""
        if self._client is None:
            raise ApplicationError("no Temporal client for reports", non_retryable=True)
        try:
            ack = await _beating(report_event(self._client, event))
        except WorkflowUpdateFailedError as err:
            if unprocessed(err):
                raise  # no worker handled it: not the batch's answer, so the retry delivers it
            raise ApplicationError(
                f"refused: {err.cause or err}",
                type="ReportRefused",
                non_retryable=True,
            ) from err
        except RPCError as err:
            if gone(err):
                raise ApplicationError(str(err), type="ReportRefused", non_retryable=True) from err
            raise
        return "duplicate" if ack.duplicate else "delivered"

    async def schedule_report(self, report: ScheduledReport) -> None:
        """Start the durable workflow that delivers `report` later (once per event id).

        The server holds it for the delay (a start delay, durable and time-skipped like a
        timer): until then no worker has it cached, so one that dies takes no report with it
        (no sticky-queue timeout before it is delivered), and it costs one workflow task less
        than a workflow that sleeps."""
        if self._client is None:
            raise AdapterUnavailable("no Temporal client to schedule reports")
        from temporalio.common import WorkflowIDConflictPolicy

        delay = report.delay if report.delay > timedelta(0) else None
        await self._client.start_workflow(
            REPORT_WORKFLOW,
            report.model_copy(update={"delay": timedelta(0)}),
            id=f"sim-{report.event.event_id}",
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_delay=delay,
        )


async def _beating(work: Awaitable[T]) -> T:
    """Await `work`, heartbeating every second meanwhile: a call that takes its time (a
    delivery waiting on a busy batch) stays alive, and one whose worker died is retried after
    the heartbeat timeout, not after its whole start-to-close timeout."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=1.0)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        task.cancel()
