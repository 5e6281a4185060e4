"""The one workflow class that runs any compiled definition, one batch per execution.

Thin on purpose: it starts or resumes the batch's state, walks the stages, and routes
messages to `messages`. Each product is a subclass registered under its own workflow type
(`workflows.registry`). What each step kind does lives in `workflows.engine.steps`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.bounds import check_bounds
from workflows.definition import CompiledDefinition
from workflows.engine import calls, compensation, journal, messages, metering, rework, runner
from workflows.engine.carrying import CARRY_PATCH
from workflows.engine.errors import Abandon, EndBatch, Rework
from workflows.engine.projection import AWAIT_CALL_PATCH, project_loop
from workflows.engine.state import BatchState
from workflows.model import (
    AuditAction,
    BatchOutcome,
    BatchRecord,
    BatchStart,
    DecisionReceipt,
    EventAck,
    ExternalEvent,
    LotRecall,
    SignedDecision,
)

SYSTEM = journal.SYSTEM


def _new_record(start: BatchStart, defn: CompiledDefinition) -> BatchRecord:
    return BatchRecord(
        batch_id=start.batch_id,
        product=defn.product,
        definition_version=defn.version,
        definition_hash=defn.content_hash,
        order_id=start.order.order_id,
        sites=dict(start.order.sites),
        parties=defn.party_kinds() if defn.parties is not None else {},
        options=defn.resolved_options(start.order.options),
    )


def _adopt_patches(state: BatchState) -> None:
    """Which engine changes this run follows: all of them for a batch started on this code,
    those its history records for one started before (each check records a marker, so they
    stay here, in this order, before the run's first command)."""
    state.carry = workflow.patched(CARRY_PATCH)
    state.prompt = workflow.patched(calls.PROMPT_PATCH)
    state.await_calls = workflow.patched(AWAIT_CALL_PATCH)


class BatchInterpreter:
    """Runs one batch of any compiled definition. Subclassed once per product."""

    def __init__(self) -> None:
        self._state: BatchState | None = None

    async def interpret(self, start: BatchStart) -> BatchOutcome:
        """Run the batch from its first step (or where it continued as new) to its end."""
        defn = CompiledDefinition.model_validate(start.definition)
        if start.resume is not None:
            state = self._state = BatchState.restored(start, defn, start.resume)
            _adopt_patches(state)
            journal.refresh(state)
        else:
            state = self._state = BatchState(start, defn, _new_record(start, defn))
            _adopt_patches(state)
            journal.audit(
                state,
                SYSTEM,
                AuditAction.BATCH_STARTED,
                start.batch_id,
                new=f"{defn.product} {defn.version}",
            )
        projector = asyncio.create_task(project_loop(state))
        try:
            try:
                await self._walk(state)
                # A batch completes only once QA has disposed of every deviation and confirmed the
                # conditions of every conditional acceptance met.
                await calls.wait(
                    state,
                    lambda: not state.rec.open_deviations() and not state.rec.unmet_conditions(),
                )
                state.rec.completed = True
                journal.audit(state, SYSTEM, AuditAction.BATCH_COMPLETED, start.batch_id)
            except Abandon as ab:
                await self._shielded(compensation.abandon_batch(state, ab.reason))
            except EndBatch as end:
                await self._shielded(compensation.end_batch(state, end.step, end.outcome))
            except asyncio.CancelledError:
                # Withdrawal: cancelling the workflow abandons the batch, compensations shielded.
                await self._shielded(
                    compensation.abandon_batch(state, "withdrawn: workflow cancelled")
                )
            return await self._shielded(self._close(projector))
        except asyncio.CancelledError:
            # A second cancellation during the shielded close: finish closing regardless.
            return await self._close(projector)

    async def _walk(self, state: BatchState) -> None:
        while True:
            try:
                await self._walk_on(state)
                return
            except Rework as back:
                rework.go_back(state, back)

    async def _walk_on(self, state: BatchState) -> None:
        resume = state.start.resume
        for si, st in enumerate(state.defn.stages):
            if (si + 1, 0) <= state.position:
                continue
            state.rec.stage = st.name
            if not (resume is not None and resume.stage_index == si):
                journal.audit(state, SYSTEM, AuditAction.STAGE_ENTERED, st.name)
            for pi, step in enumerate(st.steps):
                if (si, pi) < state.position:
                    continue
                state.position = (si, pi)
                await runner.execute(state, step, st.name, rework.rounds(state))

    async def _shielded(self, coro: Awaitable[object]) -> BatchOutcome:
        task = asyncio.ensure_future(coro)
        while True:
            try:
                result = await asyncio.shield(task)
                return result if isinstance(result, BatchOutcome) else self._outcome()
            except asyncio.CancelledError:
                if task.done():
                    raise
                workflow.logger.warning("cancellation ignored while compensating or closing")

    async def _close(self, projector: asyncio.Task[None]) -> BatchOutcome:
        state = self._batch()
        rec = state.rec
        rec.waiting_for = []
        rec.next_deadline = None
        snapshot = rec.model_copy(update={"audit": []}).model_dump_json()
        journal.audit(state, SYSTEM, AuditAction.RECORD_CLOSED, rec.batch_id, new=snapshot)
        state.closed = True
        await projector
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._outcome()

    def _outcome(self) -> BatchOutcome:
        rec = self._batch().rec
        return BatchOutcome(
            batch_id=rec.batch_id,
            status=rec.status,
            coi=rec.coi,
            reason=rec.abandoned_reason or rec.ended_outcome,
        )

    def _batch(self) -> BatchState:
        if self._state is None:
            raise ApplicationError("batch not initialised", non_retryable=True)
        return self._state

    # -- messages --------------------------------------------------------------------------

    @workflow.query(name="record")
    def record(self) -> BatchRecord:
        """The whole batch record, with the hash a signer must sign."""
        state = self._batch()
        rec = state.rec
        return rec.model_copy(
            update={
                "record_hash": rec.content_hash(),
                "awaiting": [] if state.closed else journal.awaiting(state),
                "clocks": [] if state.closed else journal.clocks(state),
            }
        )

    @workflow.update(name="report_event")
    def report_event(self, event: ExternalEvent) -> EventAck:
        """Accept a report from the outside world for a step that is waiting for it."""
        return messages.report_event(self._batch(), event)

    @report_event.validator
    def _validate_event(self, event: ExternalEvent) -> None:
        # Bounds here, not in the model: validators never run on replay (`workflows.bounds`).
        check_bounds(event)
        messages.validate_event(self._batch(), event)

    @workflow.update(name="recall_lot")
    def recall_lot(self, recall: LotRecall) -> EventAck:
        """Hold the batch: a lot it consumed is recalled (opens a blocking deviation)."""
        return messages.recall_lot(self._batch(), recall)

    @recall_lot.validator
    def _validate_recall(self, recall: LotRecall) -> None:
        check_bounds(recall)
        messages.validate_recall(self._batch(), recall)

    @workflow.update(name="decide")
    def decide(self, decision: SignedDecision) -> DecisionReceipt:
        """Apply a signed human decision: a gate, a deviation's disposition, or withdrawal."""
        return messages.decide(self._batch(), decision)

    @decide.validator
    def _validate_decision(self, decision: SignedDecision) -> None:
        check_bounds(decision)
        reason = messages.refusal(self._batch(), decision)
        if reason is not None:
            metering.signature_refused(self._batch(), decision.body.action)
            raise ValueError(reason)
