"""The one interpreter workflow that runs any compiled definition, one batch per execution.

Each product gets its own workflow type (see `workflows.registry`), all subclasses of
`BatchInterpreter`. The compiled definition arrives in the start input, so a batch is pinned to
the definition it started with. The batch record is the workflow's state; its status is
derived from what happened, never set. Every change is written as an audit event, projected
exactly once into the ledger by an activity.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.coi import is_valid_coi
from workflows.definition import CompiledDefinition
from workflows.judgement import (
    Finding,
    describe_result,
    exceptionally_released,
    judge_temperature,
    legacy_excursion,
    out_of_specification,
    release_refusal,
)
from workflows.language import (
    Call,
    Decide,
    FollowUp,
    Gate,
    Handoff,
    Hold,
    Parallel,
    Repeat,
    Step,
    Task,
    WaitFor,
)
from workflows.model import (
    AuditEvent,
    BatchOutcome,
    BatchRecord,
    BatchStart,
    CustodyEntry,
    DecisionAction,
    DecisionReceipt,
    Deviation,
    DeviationKind,
    EventAck,
    ExternalEvent,
    LotRecall,
    RecordedResult,
    Resume,
    Role,
    Signature,
    SignedDecision,
    StepCall,
    StepOutput,
    StepRun,
    StepState,
    TemperatureSummary,
)
from workflows.policy import BUSINESS_ERROR_TYPES, activity_options
from workflows.signatures import SignatureError

with workflow.unsafe.imports_passed_through():
    # Passed through so that the registry the worker installed is the one consulted here.
    import workflows.keyring as keyring
from workflows.status import derive_status

SA_PRODUCT = SearchAttributeKey.for_keyword("BatchProduct")
SA_STATUS = SearchAttributeKey.for_keyword("BatchStatus")
SA_STAGE = SearchAttributeKey.for_keyword("BatchStage")
SA_COI = SearchAttributeKey.for_keyword("BatchCoi")
SEARCH_ATTRIBUTES = (SA_PRODUCT, SA_STATUS, SA_STAGE, SA_COI)

#: Roles that may dispose of a deviation or abandon a batch.
QA_ROLES = frozenset({Role.QA, Role.QUALIFIED_PERSON})
WITHDRAW_ROLES = frozenset({Role.QA, Role.QUALIFIED_PERSON, Role.PHYSICIAN})
#: The ledger projection is a local write; bounded like every other call.
_PROJECT_TIMEOUT = timedelta(seconds=10)
_PROJECT_RETRY = RetryPolicy(maximum_attempts=20, maximum_interval=timedelta(minutes=1))
SYSTEM = "system"


class _Abandon(Exception):
    """Internal: the batch is being abandoned; unwinds the interpreter to compensation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _StepFailed(Exception):
    """Internal: a step failed; becomes a deviation that a person disposes of."""

    def __init__(
        self,
        kind: DeviationKind,
        description: str,
        allowed: tuple[DecisionAction, ...],
        results: tuple[str, ...] = (),
    ) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description
        self.allowed = allowed
        self.results = results


_RETRY_OR_ABANDON = (DecisionAction.RETRY, DecisionAction.ABANDON)
_CONTINUE_OR_ABANDON = (DecisionAction.CONTINUE, DecisionAction.ABANDON)
_ANY_TECHNICAL = (DecisionAction.RETRY, DecisionAction.CONTINUE, DecisionAction.ABANDON)
_OOS = (DecisionAction.RETRY, DecisionAction.EXCEPTIONAL_RELEASE, DecisionAction.ABANDON)
_EXCEPTION_OR_ABANDON = (DecisionAction.EXCEPTIONAL_RELEASE, DecisionAction.ABANDON)
#: Patches (workflow.patched) for behaviour issue 9 changed; histories before them replay as
#: they ran. Each is asked only where the new rule and the old one disagree.
PATCH_JUDGE_RESULTS = "judge-every-specified-result"
PATCH_TEMPERATURE = "temperature-evidence-judged"


class BatchInterpreter:
    """Runs one batch of any compiled definition. Subclassed once per product."""

    def __init__(self) -> None:
        self._start: BatchStart | None = None
        self._defn: CompiledDefinition | None = None
        self._rec: BatchRecord | None = None
        self._expecting: dict[str, str] = {}
        self._events: dict[str, ExternalEvent] = {}
        self._seen_events: set[str] = set()
        self._gates: dict[str, SignedDecision | None] = {}
        self._dispositions: dict[str, SignedDecision] = {}
        self._used_signatures: set[str] = set()
        self._compensations: list[tuple[str, Call]] = []
        self._abandon: str | None = None
        self._deadlines: dict[str, datetime] = {}
        self._done_at: dict[str, datetime] = {}
        self._performers: dict[str, str] = {}
        self._person_retries: dict[str, int] = {}
        self._iterations: dict[str, int] = {}
        self._fresh: dict[str, list[str]] = {}
        self._projected = 0
        self._closed = False
        self._search: dict[str, str] = {}
        self._watchers: list[asyncio.Task[None]] = []
        self._position: tuple[int, int] = (0, 0)
        self._resume_visit = 1
        self._resume_origin: datetime | None = None

    # -- the run ---------------------------------------------------------------------------

    async def interpret(self, start: BatchStart) -> BatchOutcome:
        """Run the batch from its first step (or where it continued as new) to its end."""
        defn = CompiledDefinition.model_validate(start.definition)
        self._start, self._defn = start, defn
        if start.resume is not None:
            self._restore(start.resume)
        else:
            self._rec = BatchRecord(
                batch_id=start.batch_id,
                product=defn.product,
                definition_version=defn.version,
                definition_hash=defn.content_hash,
                order_id=start.order.order_id,
                sites={
                    "treatment_centre": start.order.treatment_centre,
                    "manufacturing_site": start.order.manufacturing_site,
                    "courier": start.order.courier,
                },
            )
            self._audit(
                SYSTEM, "batch.started", start.batch_id, new=f"{defn.product} {defn.version}"
            )
        projector = asyncio.create_task(self._project_loop())
        try:
            try:
                for si, st in enumerate(defn.stages):
                    if (si + 1, 0) <= self._position:
                        continue
                    resuming_stage = start.resume is not None and start.resume.stage_index == si
                    self._rec_stage(st.name, announce=not resuming_stage)
                    for pi, step in enumerate(st.steps):
                        if (si, pi) < self._position:
                            continue
                        self._position = (si, pi)
                        await self._execute(step, st.name, 1)
                await self._wait(lambda: not self._rec_open_deviations())
                self._record().completed = True
                self._audit(SYSTEM, "batch.completed", start.batch_id)
            except _Abandon as ab:
                await self._shielded(self._abandon_batch(ab.reason))
            except asyncio.CancelledError:
                # Withdrawal: cancelling the workflow abandons the batch, compensations shielded.
                await self._shielded(self._abandon_batch("withdrawn: workflow cancelled"))
            return await self._shielded(self._close(projector))
        except asyncio.CancelledError:
            # A second cancellation during the shielded close: finish closing regardless.
            return await self._close(projector)

    def _rec_stage(self, name: str, *, announce: bool) -> None:
        self._record().stage = name
        if announce:
            self._audit(SYSTEM, "stage.entered", name)

    def _restore(self, r: Resume) -> None:
        self._rec = r.record
        self._position = (r.stage_index, r.step_index)
        self._resume_visit, self._resume_origin = r.visit, r.origin
        self._compensations = [(s, Call.model_validate(c)) for s, c in r.compensations]
        self._done_at = dict(r.done_at)
        self._performers = dict(r.performers)
        self._used_signatures = set(r.used_signatures)
        self._seen_events = set(r.seen_events)
        self._person_retries = dict(r.person_retries)
        self._projected = r.projected
        self._refresh()

    async def _continue_as_new(self, visit: int, origin: datetime) -> None:
        """Carry the record and position into a fresh run (bounded history, any lifetime)."""
        rec = self._record()
        await workflow.wait_condition(
            lambda: self._projected == len(rec.audit) and workflow.all_handlers_finished()
        )
        resume = Resume(
            record=rec,
            stage_index=self._position[0],
            step_index=self._position[1],
            visit=visit,
            origin=origin,
            compensations=[(s, c.model_dump(mode="json")) for s, c in self._compensations],
            done_at=self._done_at,
            performers=self._performers,
            used_signatures=sorted(self._used_signatures),
            seen_events=sorted(self._seen_events),
            person_retries=self._person_retries,
            projected=self._projected,
        )
        workflow.continue_as_new(self._started().model_copy(update={"resume": resume}))

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

    async def _abandon_batch(self, reason: str) -> None:
        rec = self._record()
        self._audit(SYSTEM, "batch.abandoning", rec.batch_id, reason=reason)
        for step_name, comp in reversed(self._compensations):
            try:
                await self._call(comp, step_name, key_suffix="undo")
                rec.compensations.append(f"{step_name}: {comp.activity}")
                self._audit(SYSTEM, "compensation.done", step_name, new=comp.activity)
            except ActivityError as err:
                rec.compensations.append(f"{step_name}: {comp.activity} FAILED")
                self._audit(
                    SYSTEM, "compensation.failed", step_name, new=comp.activity, reason=str(err)
                )
        rec.abandoned_reason = reason
        self._audit(SYSTEM, "batch.abandoned", rec.batch_id, reason=reason)

    async def _close(self, projector: asyncio.Task[None]) -> BatchOutcome:
        rec = self._record()
        rec.waiting_for = []
        rec.next_deadline = None
        snapshot = rec.model_copy(update={"audit": []}).model_dump_json()
        self._audit(SYSTEM, "record.closed", rec.batch_id, new=snapshot)
        self._closed = True
        await projector
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._outcome()

    def _outcome(self) -> BatchOutcome:
        rec = self._record()
        return BatchOutcome(
            batch_id=rec.batch_id, status=rec.status, coi=rec.coi, reason=rec.abandoned_reason
        )

    # -- executing steps -------------------------------------------------------------------

    async def _execute(self, step: Step, stage: str, iteration: int) -> None:
        """Run one step; a failure becomes a deviation and waits for a person's disposition."""
        if isinstance(step, Hold):
            self._arm_hold(step)
            return
        while True:
            await self._wait(lambda: not self._rec_open_deviations(blocking_only=True))
            run_index = self._resumed_run(step) if self._resume_origin else None
            if run_index is None:
                run_index = self._begin(step, stage, iteration)
            try:
                try:
                    await self._dispatch(step, stage, iteration)
                    self._judge_fresh(step.name)
                except (_StepFailed, _Abandon, asyncio.CancelledError):
                    raise
                except Exception as bug:
                    workflow.logger.exception("unexpected error in step %s", step.name)
                    raise _StepFailed(
                        DeviationKind.RETRIES_EXHAUSTED,
                        f"internal error: {type(bug).__name__}: {bug}",
                        _ANY_TECHNICAL,
                    ) from bug
            except _StepFailed as failure:
                self._end(run_index, StepState.FAILED)
                action = await self._deviate(failure.kind, step.name, failure)
                if action == DecisionAction.RETRY:
                    self._person_retries[step.name] = self._person_retries.get(step.name, 0) + 1
                    continue
                if action == DecisionAction.EXCEPTIONAL_RELEASE:
                    self._record().exceptional_release = True
                # Continued as is: the step counts as done for what comes after it.
                self._done_at[step.name] = workflow.now()
                return
            self._end(run_index, StepState.DONE)
            return

    def _judge_fresh(self, step: str, *, blocking: bool = True) -> None:
        """Judge the specified results `step` just recorded, unless a later decide step or an
        enclosing repeat judges them: an out-of-specification one is a deviation at once, so a
        computed dose over its limit stops the batch before administration."""
        names = self._fresh.pop(step, [])
        defn, rec = self._definition(), self._record()
        failing = [
            r
            for r in out_of_specification(rec, [n for n in names if n not in defn.judged_later()])
            if not exceptionally_released(rec, r.name)
        ]
        if not failing or not workflow.patched(PATCH_JUDGE_RESULTS):
            return
        description = "out of specification: " + "; ".join(describe_result(r) for r in failing)
        results = tuple(r.name for r in failing)
        if not blocking:
            self._open_deviation(
                DeviationKind.OUT_OF_SPECIFICATION,
                step,
                description,
                _CONTINUE_OR_ABANDON,
                blocking=False,
                results=results,
            )
            return
        raise _StepFailed(DeviationKind.OUT_OF_SPECIFICATION, description, _OOS, results)

    async def _dispatch(self, step: Step, stage: str, iteration: int) -> None:
        undo = getattr(step, "compensation", None)
        if undo is not None and all(name != step.name for name, _ in self._compensations):
            # Registered before the call: the outside world may act even if we never hear back.
            self._compensations.append((step.name, undo))
        if isinstance(step, Task):
            await self._task(step)
        elif isinstance(step, WaitFor):
            await self._wait_for(step)
        elif isinstance(step, Handoff):
            await self._handoff(step)
        elif isinstance(step, Gate):
            await self._gate(step)
        elif isinstance(step, Decide):
            self._decide(step)
        elif isinstance(step, Parallel):
            await self._parallel(step, stage, iteration)
        elif isinstance(step, Repeat):
            await self._repeat(step, stage)
        elif isinstance(step, FollowUp):
            await self._follow_up(step)

    async def _task(self, step: Task) -> None:
        output = await self._call_step(step.call, step.name, records=step.records)
        self._absorb(step.name, output)
        missing = [r for r in step.records if r not in output.results]
        if missing:
            raise _StepFailed(
                DeviationKind.STEP_FAILED,
                f"{step.call.activity} did not compute {', '.join(missing)}",
                _RETRY_OR_ABANDON,
            )

    async def _wait_for(self, step: WaitFor) -> None:
        ask, moves = step.ask, 0
        while True:
            event = await self._ask_and_wait(
                step.name, step.event, ask, step.deadline, records=step.records
            )
            if event.outcome != "rescheduled" or step.on_reschedule is None:
                break
            # The outside world moved the work: follow it (move the slot), then wait again.
            # The step keeps expecting its report meanwhile, so a prompt one is not refused.
            moves += 1
            new_date = event.data.get("new_date", "")
            self._audit(event.reporter, "step.rescheduled", step.name, new=new_date)
            self._expecting[step.name] = step.event
            await self._call_step(
                step.on_reschedule,
                step.name,
                extra={"new_date": new_date},
                key_suffix=f"moved{moves}",
            )
            ask = None
        if event.outcome != "ok":
            raise _StepFailed(
                DeviationKind.STEP_FAILED,
                f"{event.reporter} reported {event.type} with outcome '{event.outcome}'",
                _RETRY_OR_ABANDON,
            )
        self._absorb_event(step.name, event)
        if step.infusion:
            self._record().infused = True
            self._audit(event.reporter, "batch.infused", step.name)
        missing = [r for r in step.records if r not in event.results]
        if missing:
            raise _StepFailed(
                DeviationKind.STEP_FAILED,
                f"report lacks required results: {', '.join(missing)}",
                _RETRY_OR_ABANDON,
            )

    async def _handoff(self, step: Handoff) -> None:
        event = await self._ask_and_wait(
            step.name,
            "custody",
            step.ask,
            step.deadline,
            extra={
                "from_party": step.from_party,
                "to_party": step.to_party,
                "container": step.container,
            },
        )
        rep = event.custody
        if rep is None:  # the update validator refuses this; kept for replay safety
            raise _StepFailed(DeviationKind.STEP_FAILED, "no custody report", _RETRY_OR_ABANDON)
        rec = self._record()
        expected_label = f"{rec.coi}-{step.container}"
        identity_ok = is_valid_coi(rep.scanned_coi) and rep.scanned_coi == rec.coi
        label_ok = rep.container_label == expected_label
        entry = CustodyEntry(
            step=step.name,
            from_party=rep.from_party,
            to_party=rep.to_party,
            at=event.occurred_at,
            location=rep.location,
            container_label=rep.container_label,
            scanned_coi=rep.scanned_coi,
            identity_verified=identity_ok,
            label_verified=label_ok,
            temperature=rep.temperature,
        )
        rec.custody.append(entry)
        self._performers[step.name] = event.reporter
        self._audit(
            event.reporter,
            "custody.transferred",
            step.name,
            new=f"{rep.from_party} -> {rep.to_party} at {rep.location}; "
            f"identity {'verified' if identity_ok else 'MISMATCH'}, "
            f"label {'verified' if label_ok else 'MISMATCH'}",
        )
        if not (identity_ok and label_ok):
            raise _StepFailed(
                DeviationKind.IDENTITY_MISMATCH,
                f"scanned COI/label {rep.scanned_coi}/{rep.container_label} "
                f"do not match {rec.coi}/{expected_label}",
                _RETRY_OR_ABANDON,
            )
        finding = self._temperature_finding(step, rep.temperature)
        if finding is not None:
            raise _StepFailed(finding.kind, finding.description, _CONTINUE_OR_ABANDON)

    def _temperature_finding(
        self, step: Handoff, summary: TemperatureSummary | None
    ) -> Finding | None:
        """The leg's temperature verdict; batches recorded before the evidence rules keep the
        verdict they had (the patch is asked only where the two rules disagree)."""
        if step.temperature is None:
            return None
        finding = judge_temperature(step.temperature, summary)
        legacy = legacy_excursion(step.temperature, summary)
        agree = (finding is None and not legacy) or (
            legacy and finding is not None and finding.kind == DeviationKind.TEMPERATURE_EXCURSION
        )
        if agree or workflow.patched(PATCH_TEMPERATURE):
            return finding
        if not legacy:
            return None
        t, limit = summary, step.temperature
        assert t is not None
        return Finding(
            kind=DeviationKind.TEMPERATURE_EXCURSION,
            description=f"temperature {t.min_c:g}..{t.max_c:g} C for "
            f"{t.minutes_outside_range:g} min outside {limit.min_c:g}..{limit.max_c:g} C",
        )

    async def _gate(self, step: Gate) -> None:
        self._gates[step.name] = None
        self._refresh()
        try:
            await self._wait(lambda: self._gates.get(step.name) is not None)
        finally:
            decision = self._gates.pop(step.name, None)
            self._refresh()
        assert decision is not None
        if decision.body.action == DecisionAction.REJECT:
            raise _Abandon(f"rejected at {step.name} by {decision.body.printed_name}")
        if step.release:
            self._record().released = True
            self._audit(decision.body.signer_id, "batch.released", step.name)

    def _decide(self, step: Decide) -> None:
        rec = self._record()
        failing = [describe_result(r) for r in out_of_specification(rec, step.results)]
        missing = [name for name in step.results if name not in rec.results]
        if missing:
            raise _StepFailed(
                DeviationKind.STEP_FAILED,
                f"results missing: {', '.join(missing)}",
                _RETRY_OR_ABANDON,
            )
        if failing:
            allowed: tuple[DecisionAction, ...] = (DecisionAction.ABANDON,)
            if step.exceptional_release:
                allowed = (DecisionAction.EXCEPTIONAL_RELEASE, DecisionAction.ABANDON)
            raise _StepFailed(
                DeviationKind.OUT_OF_SPECIFICATION,
                "out of specification: " + "; ".join(failing),
                allowed,
                tuple(r.name for r in out_of_specification(rec, step.results)),
            )

    async def _parallel(self, step: Parallel, stage: str, iteration: int) -> None:
        tasks = [asyncio.create_task(self._execute(s, stage, iteration)) for s in step.steps]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            raise

    async def _repeat(self, step: Repeat, stage: str) -> None:
        for i in range(1, step.max_times + 1):
            for inner in step.steps:
                await self._execute(inner, stage, i)
            result = self._record().results.get(step.until)
            if result is not None and result.in_specification:
                return
            self._audit(SYSTEM, "repeat.unsuccessful", step.name, new=f"attempt {i}")
        description = f"{step.until} not met after {step.max_times} attempt(s)"
        if step.on_exhausted == "abandon":
            raise _Abandon(f"{step.name}: {description}")
        # What falls short is a specified result: only an exceptional release accepts it.
        raise _StepFailed(
            DeviationKind.REPEAT_EXHAUSTED, description, _EXCEPTION_OR_ABANDON, (step.until,)
        )

    async def _follow_up(self, step: FollowUp) -> None:
        origin = self._resume_origin or workflow.now()
        first = self._resume_visit
        self._resume_origin, self._resume_visit = None, 1
        for n, offset in enumerate(step.visits, 1):
            if n < first:
                continue
            if n > first:
                # One visit per run: years of follow-up never accumulate in one history.
                await self._continue_as_new(n, origin)
            self._iterations[step.name] = n
            opens = origin + offset - step.window
            if opens > workflow.now():
                self._deadlines[step.name] = opens
                self._refresh()
                # Sleep until the visit window opens; an abandonment still wakes the batch.
                with contextlib.suppress(TimeoutError):
                    await self._wait(lambda: False, timeout=opens - workflow.now())
            try:
                event = await self._ask_and_wait(
                    step.name, step.event, step.ask, step.window * 2, records=step.records
                )
            except _StepFailed as failure:
                if failure.kind != DeviationKind.DEADLINE_MISSED:
                    raise
                self._open_deviation(
                    DeviationKind.VISIT_MISSED,
                    step.name,
                    f"visit {n} (due {offset.days} days after start) not reported in time",
                    _CONTINUE_OR_ABANDON,
                    blocking=False,
                )
                continue
            self._absorb_event(step.name, event)
            self._audit(event.reporter, "visit.completed", step.name, new=f"visit {n}")
            # A visit's observation out of its limit is assessed by QA; the schedule goes on.
            self._judge_fresh(step.name, blocking=False)

    def _arm_hold(self, step: Hold) -> None:
        started = self._done_at.get(step.start)
        if started is None:  # validation places holds after their start; be safe on replay
            return
        deadline = started + step.max
        self._deadlines[step.name] = deadline
        self._refresh()

        async def watch() -> None:
            remaining = deadline - workflow.now()
            try:
                if remaining <= timedelta(0):
                    raise TimeoutError
                await workflow.wait_condition(
                    lambda: self._done_at.get(step.end, started) > started or self._closed,
                    timeout=remaining,
                    timeout_summary=f"hold {step.name}",
                )
            except TimeoutError:
                self._open_deviation(
                    DeviationKind.HOLD_BREACHED,
                    step.name,
                    f"more than {step.max} between {step.start} and {step.end}",
                    _CONTINUE_OR_ABANDON,
                )
            finally:
                self._deadlines.pop(step.name, None)
                self._refresh()

        self._watchers.append(asyncio.create_task(watch()))

    # -- calls and waits -------------------------------------------------------------------

    async def _ask_and_wait(
        self,
        step: str,
        event_type: str,
        ask: Call | None,
        deadline: timedelta | None,
        *,
        records: tuple[str, ...] = (),
        extra: dict[str, str] | None = None,
    ) -> ExternalEvent:
        if ask is not None:
            # A new request: an older report for this step answers nothing now.
            self._events.pop(step, None)
        self._expecting[step] = event_type
        assert deadline is not None
        self._deadlines[step] = workflow.now() + deadline
        self._refresh()
        try:
            if ask is not None:
                await self._call_step(
                    ask, step, expects=event_type, records=records, extra=extra or {}
                )
            remaining = self._deadlines[step] - workflow.now()
            await self._wait(lambda: step in self._events, timeout=max(remaining, timedelta(0)))
        except TimeoutError as err:
            raise _StepFailed(
                DeviationKind.DEADLINE_MISSED,
                f"no '{event_type}' report within {deadline}",
                _RETRY_OR_ABANDON,
            ) from err
        finally:
            self._expecting.pop(step, None)
            self._deadlines.pop(step, None)
            self._refresh()
        return self._events.pop(step)

    async def _call_step(
        self,
        c: Call,
        step: str,
        *,
        expects: str | None = None,
        records: tuple[str, ...] = (),
        extra: dict[str, str] | None = None,
        key_suffix: str | None = None,
    ) -> StepOutput:
        """Call an activity for a step, turning its failure into business or technical."""
        try:
            return await self._call(
                c, step, key_suffix, expects=expects, records=records, extra=extra
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type in BUSINESS_ERROR_TYPES:
                raise _StepFailed(
                    DeviationKind.STEP_FAILED, f"{c.activity}: {cause.message}", _RETRY_OR_ABANDON
                ) from err
            raise _StepFailed(
                DeviationKind.RETRIES_EXHAUSTED,
                f"{c.activity} failed after its retry policy: {cause or err}",
                _ANY_TECHNICAL,
            ) from err

    async def _call(
        self,
        c: Call,
        step: str,
        key_suffix: str | None = None,
        *,
        expects: str | None = None,
        records: tuple[str, ...] = (),
        extra: dict[str, str] | None = None,
    ) -> StepOutput:
        start, rec = self._started(), self._record()
        # A new iteration or a person's retry is a new request; a Temporal retry is not.
        attempt = f"i{self._iterations.get(step, 1)}r{self._person_retries.get(step, 0)}"
        suffix = key_suffix or attempt
        arg = StepCall(
            batch_id=rec.batch_id,
            product=rec.product,
            step=step,
            activity=c.activity,
            idempotency_key=f"{rec.batch_id}:{step}:{c.activity}:{suffix}",
            site_role=c.site,
            site=rec.sites.get(c.site, SYSTEM),
            coi=rec.coi,
            order_id=rec.order_id,
            params={**c.params, **(extra or {})},
            expects=expects,
            records=list(records),
            window_start=start.order.treatment_window_start,
            window_end=start.order.treatment_window_end,
            weight_kg=start.order.weight_kg,
            results={name: r.value for name, r in rec.results.items()},
        )
        output: StepOutput = await workflow.execute_activity(
            c.activity,
            arg,
            result_type=StepOutput,
            summary=f"{step}: {c.activity}",
            **activity_options(c.policy),
        )
        return output

    async def _wait(self, pred: Callable[[], bool], timeout: timedelta | None = None) -> None:
        """Wait for `pred`; abandonment requested meanwhile unwinds the batch."""
        await workflow.wait_condition(lambda: pred() or self._abandon is not None, timeout=timeout)
        if self._abandon is not None:
            raise _Abandon(self._abandon)

    # -- deviations ------------------------------------------------------------------------

    def _open_deviation(
        self,
        kind: DeviationKind,
        step: str,
        description: str,
        allowed: tuple[DecisionAction, ...],
        *,
        blocking: bool = True,
        results: tuple[str, ...] = (),
    ) -> Deviation:
        rec = self._record()
        dev = Deviation(
            deviation_id=f"DEV-{len(rec.deviations) + 1}",
            kind=kind,
            step=step,
            opened_at=workflow.now(),
            description=description,
            allowed=allowed,
            blocking=blocking,
            results=results,
        )
        rec.deviations.append(dev)
        workflow.logger.warning(
            "deviation opened", extra={"step": step, "deviation": dev.deviation_id, "kind": kind}
        )
        self._audit(SYSTEM, "deviation.opened", dev.deviation_id, new=f"{kind}: {description}")
        return dev

    async def _deviate(
        self, kind: DeviationKind, step: str, failure: _StepFailed
    ) -> DecisionAction:
        dev = self._open_deviation(
            kind, step, failure.description, failure.allowed, results=failure.results
        )
        await self._wait(lambda: dev.deviation_id in self._dispositions)
        decision = self._dispositions[dev.deviation_id]
        if decision.body.action == DecisionAction.ABANDON:
            raise _Abandon(f"{dev.deviation_id} disposed: abandon ({decision.body.reason})")
        return decision.body.action

    def _rec_open_deviations(self, *, blocking_only: bool = False) -> list[Deviation]:
        return self._record().open_deviations(blocking_only=blocking_only)

    # -- recording -------------------------------------------------------------------------

    def _resumed_run(self, step: Step) -> int | None:
        """The still-active run of the step this batch continued as new inside, if any."""
        runs = self._record().steps
        for i in range(len(runs) - 1, -1, -1):
            if runs[i].step == step.name and runs[i].state == StepState.ACTIVE:
                return i
        return None

    def _begin(self, step: Step, stage: str, iteration: int) -> int:
        rec = self._record()
        rec.steps.append(
            StepRun(
                step=step.name,
                stage=stage,
                iteration=iteration,
                state=StepState.ACTIVE,
                started_at=workflow.now(),
            )
        )
        self._iterations[step.name] = iteration
        # workflow.logger is replay-aware: the line is written once, not again on replay.
        workflow.logger.info("step started", extra={"step": step.name, "iteration": iteration})
        self._audit(SYSTEM, "step.started", step.name, new=f"{step.kind} #{iteration}")
        return len(rec.steps) - 1

    def _end(self, index: int, state: StepState) -> None:
        rec = self._record()
        run = rec.steps[index]
        if run.state != StepState.ACTIVE:
            return
        now = workflow.now()
        rec.steps[index] = run.model_copy(
            update={
                "state": state,
                "ended_at": now,
                "performed_by": self._performers.get(run.step),
            }
        )
        if state == StepState.DONE:
            self._done_at[run.step] = now
        self._audit(SYSTEM, f"step.{state.value}", run.step, old="active", new=state.value)

    def _absorb(self, step: str, output: StepOutput) -> None:
        rec = self._record()
        if output.coi is not None and rec.coi is None:
            rec.coi = output.coi
            self._audit(SYSTEM, "coi.allocated", output.coi)
        for name, value in output.results.items():
            self._record_result(step, name, value.value, value.unit, SYSTEM)
        for lot in output.lots:
            self._consume_lot(step, lot)

    def _absorb_event(self, step: str, event: ExternalEvent) -> None:
        self._performers[step] = event.reporter
        for name, value in event.results.items():
            self._record_result(step, name, value.value, value.unit, event.reporter)
        for lot in event.lots:
            self._consume_lot(step, lot)

    def _record_result(
        self, step: str, name: str, value: float | str, unit: str, reporter: str
    ) -> None:
        rec, spec = self._record(), self._definition().specification.get(name)
        old = rec.results.get(name)
        if spec is not None:
            self._fresh.setdefault(step, []).append(name)
        rec.results[name] = RecordedResult(
            name=name,
            value=value,
            unit=unit,
            step=step,
            at=workflow.now(),
            reporter=reporter,
            in_specification=None if spec is None else spec.accepts(value),
            limit=None if spec is None else spec.describe(),
        )
        self._audit(
            reporter,
            "result.recorded",
            name,
            old=None if old is None else f"{old.value}{old.unit}",
            new=f"{value}{unit}",
        )

    def _consume_lot(self, step: str, lot: str) -> None:
        rec = self._record()
        if lot not in rec.lots:
            rec.lots.append(lot)
        self._audit(SYSTEM, "lot.consumed", lot, new=json.dumps({"coi": rec.coi, "step": step}))

    def _audit(
        self,
        actor: str,
        action: str,
        subject: str,
        *,
        old: str | None = None,
        new: str | None = None,
        reason: str | None = None,
        signature: Signature | None = None,
    ) -> None:
        """The one place that writes an audit event; it also refreshes the derived status."""
        rec = self._record()
        rec.audit.append(
            AuditEvent(
                batch_id=rec.batch_id,
                seq=len(rec.audit) + 1,
                at=workflow.now(),
                actor=actor,
                action=action,
                subject=subject,
                old_value=old,
                new_value=new,
                reason=reason,
                signature=signature,
                definition_hash=rec.definition_hash,
                product=rec.product,
            )
        )
        rec.version += 1
        self._refresh()

    def _refresh(self) -> None:
        """Re-derive status, waits and deadlines; publish changes as search attributes."""
        rec = self._record()
        old_status = rec.status
        rec.status = derive_status(rec)
        rec.waiting_for = sorted(
            [f"event {t} at {s}" for s, t in self._expecting.items()]
            + [f"decision at {g}" for g in self._gates]
            + [f"disposition of {d.deviation_id}" for d in rec.open_deviations()]
        )
        rec.next_deadline = min(self._deadlines.values(), default=None)
        if old_status != rec.status and rec.audit:
            rec.audit.append(
                AuditEvent(
                    batch_id=rec.batch_id,
                    seq=len(rec.audit) + 1,
                    at=workflow.now(),
                    actor=SYSTEM,
                    action="status.changed",
                    subject=rec.batch_id,
                    old_value=old_status.value,
                    new_value=rec.status.value,
                    definition_hash=rec.definition_hash,
                    product=rec.product,
                )
            )
        wanted = {
            SA_PRODUCT.name: rec.product,
            SA_STATUS.name: rec.status.value,
            SA_STAGE.name: rec.stage or "",
            SA_COI.name: rec.coi or "",
        }
        changed = [
            key.value_set(wanted[key.name])
            for key in SEARCH_ATTRIBUTES
            if self._search.get(key.name) != wanted[key.name]
        ]
        if changed:
            self._search = wanted
            workflow.upsert_search_attributes(changed)

    async def _project_loop(self) -> None:
        """Project audit events into the ledger, in order, until the record is closed."""
        rec = self._record()
        while True:
            await workflow.wait_condition(lambda: len(rec.audit) > self._projected or self._closed)
            batch = rec.audit[self._projected :]
            if batch:
                try:
                    await workflow.execute_activity(
                        "project_audit",
                        batch,
                        summary="ledger",
                        start_to_close_timeout=_PROJECT_TIMEOUT,
                        retry_policy=_PROJECT_RETRY,
                    )
                except ActivityError as err:
                    # The record must reach the ledger: hold the batch for a person, not fail it.
                    dev = self._open_deviation(
                        DeviationKind.RETRIES_EXHAUSTED,
                        "ledger",
                        f"audit projection failed: {err.cause or err}",
                        (DecisionAction.RETRY,),
                    )
                    dev_id = dev.deviation_id
                    await workflow.wait_condition(
                        lambda dev_id=dev_id: dev_id in self._dispositions  # type: ignore[misc]
                    )
                    continue
                self._projected += len(batch)
            elif self._closed:
                return

    # -- messages --------------------------------------------------------------------------

    @workflow.query(name="record")
    def record(self) -> BatchRecord:
        """The whole batch record, with the hash a signer must sign."""
        rec = self._record()
        return rec.model_copy(update={"record_hash": rec.content_hash()})

    @workflow.update(name="report_event")
    def report_event(self, event: ExternalEvent) -> EventAck:
        """Accept a report from the outside world for a step that is waiting for it."""
        if event.event_id in self._seen_events:
            return EventAck(event_id=event.event_id, duplicate=True)
        self._seen_events.add(event.event_id)
        self._events[event.step] = event
        self._audit(event.reporter, "event.received", event.step, new=event.type)
        return EventAck(event_id=event.event_id)

    @report_event.validator
    def _validate_event(self, event: ExternalEvent) -> None:
        rec = self._record()
        if event.batch_id != rec.batch_id:
            raise ValueError(f"event is for batch {event.batch_id}, not {rec.batch_id}")
        if event.event_id in self._seen_events:
            return
        expected = self._expecting.get(event.step)
        if expected is None:
            raise ValueError(f"batch {rec.batch_id} is not waiting for a report at '{event.step}'")
        if expected != event.type:
            raise ValueError(f"step '{event.step}' waits for '{expected}', not '{event.type}'")
        if expected == "custody" and event.custody is None:
            raise ValueError("a custody report must carry what the receiver scanned")
        summary = event.custody.temperature if event.custody is not None else None
        if summary is not None and (problems := summary.evidence_problems()):
            raise ValueError(f"temperature summary is not evidence: {'; '.join(problems)}")
        if event.outcome == "rescheduled":
            step = self._definition().step(event.step)
            if not isinstance(step, WaitFor) or step.on_reschedule is None:
                raise ValueError(f"step '{event.step}' cannot be rescheduled")
            try:
                datetime.fromisoformat(event.data.get("new_date", ""))
            except ValueError as err:
                raise ValueError("a rescheduled report needs data.new_date (ISO 8601)") from err

    @workflow.update(name="recall_lot")
    def recall_lot(self, recall: LotRecall) -> EventAck:
        """Hold the batch: a lot it consumed is recalled (opens a blocking deviation)."""
        if recall.recall_id in self._seen_events:
            return EventAck(event_id=recall.recall_id, duplicate=True)
        self._seen_events.add(recall.recall_id)
        self._open_deviation(
            DeviationKind.LOT_RECALLED,
            "materials",
            f"lot {recall.lot} recalled by {recall.requested_by}: {recall.reason}",
            _CONTINUE_OR_ABANDON,
        )
        return EventAck(event_id=recall.recall_id)

    @recall_lot.validator
    def _validate_recall(self, recall: LotRecall) -> None:
        rec = self._record()
        if recall.recall_id in self._seen_events:
            return
        if recall.lot not in rec.lots:
            raise ValueError(f"batch {rec.batch_id} did not consume lot {recall.lot}")
        if rec.infused:
            raise ValueError(f"batch {rec.batch_id} is already infused")
        if self._closed or rec.completed or rec.abandoned_reason:
            raise ValueError(f"batch {rec.batch_id} is closed")

    @workflow.update(name="decide")
    def decide(self, decision: SignedDecision) -> DecisionReceipt:
        """Apply a signed human decision: a gate, a deviation's disposition, or withdrawal."""
        body = decision.body
        self._used_signatures.add(body.signature_id)
        sig = Signature(
            signature_id=body.signature_id,
            target=body.target,
            action=body.action,
            signer_id=body.signer_id,
            printed_name=body.printed_name,
            role=body.role,
            signed_at=body.signed_at,
            meaning=body.meaning,
            reason=body.reason,
            record_hash=body.record_hash,
            key_id=body.key_id,
        )
        rec = self._record()
        rec.signatures.append(sig)
        if body.target in self._gates:
            self._gates[body.target] = decision
            self._performers[body.target] = body.signer_id
        elif body.target == rec.batch_id:
            self._abandon = f"withdrawn by {body.printed_name}: {body.reason}"
        else:
            self._dispositions[body.target] = decision
            if body.action == DecisionAction.ABANDON:
                # Whoever waits (a failed step, a hold breach, a missed visit) unwinds from here.
                self._abandon = f"{body.target} disposed: abandon ({body.reason})"
            rec.deviations = [
                d.model_copy(
                    update={
                        "disposition": body.action,
                        "disposed_by": body.printed_name,
                        "disposed_at": body.signed_at,
                        "reason": body.reason,
                    }
                )
                if d.deviation_id == body.target
                else d
                for d in rec.deviations
            ]
        self._audit(
            body.signer_id,
            f"decision.{body.action.value}",
            body.target,
            reason=body.reason,
            signature=sig,
        )
        return DecisionReceipt(
            signature_id=body.signature_id,
            target=body.target,
            action=body.action,
            status=rec.status,
        )

    @decide.validator
    def _validate_decision(self, decision: SignedDecision) -> None:
        reason = self._refusal(decision)
        if reason is not None:
            raise ValueError(reason)

    def _refusal(self, decision: SignedDecision) -> str | None:
        """Why `decision` must be refused, or None. Pure: no I/O, no state change."""
        start, rec, body = self._started(), self._record(), decision.body
        try:
            # Only the deployment's keys; never keys named in the start input.
            keyring.installed().verify(decision)
        except SignatureError as err:
            return str(err)
        if body.batch_id != rec.batch_id:
            return f"signature is for batch {body.batch_id}, not {rec.batch_id}"
        if body.signature_id in self._used_signatures:
            return "signature already used"
        age = abs(workflow.now() - body.signed_at)
        if age > timedelta(seconds=start.signature_max_age_seconds):
            return f"signature expired: made {age} ago"
        if body.record_hash != rec.content_hash():
            return "signature is for another version of the record; review the current one"
        if self._closed or rec.abandoned_reason or rec.completed:
            return "batch is closed"
        if body.target in self._gates:
            return self._gate_refusal(self._definition().step(body.target), body.role, decision)
        if body.target == rec.batch_id:
            if body.action != DecisionAction.ABANDON:
                return "only abandonment can be decided for the whole batch"
            if body.role not in WITHDRAW_ROLES:
                return f"role {body.role} may not withdraw a batch"
            return None
        dev = next((d for d in rec.deviations if d.deviation_id == body.target), None)
        if dev is None:
            return f"nothing awaits a decision at '{body.target}'"
        if not dev.is_open:
            return f"{dev.deviation_id} is already disposed of"
        if body.role not in QA_ROLES:
            return f"role {body.role} may not dispose of a deviation"
        if body.action not in dev.allowed:
            allowed = ", ".join(a.value for a in dev.allowed)
            return f"{dev.deviation_id} allows {allowed}, not {body.action.value}"
        if not body.reason.strip():
            return "a disposition needs a written justification"
        return None

    def _gate_refusal(self, step: Step, role: Role, decision: SignedDecision) -> str | None:
        assert isinstance(step, Gate)
        rec, body = self._record(), decision.body
        if body.action not in (DecisionAction.APPROVE, DecisionAction.REJECT):
            return f"a gate is approved or rejected, not {body.action.value}"
        if role not in step.roles:
            return f"role {role} may not decide {step.name}; allowed: {', '.join(step.roles)}"
        for need in step.requires:
            if self._performers.get(need) == body.signer_id:
                return f"{body.signer_id} performed {need} and may not approve it"
        if body.action == DecisionAction.REJECT:
            return None if body.reason.strip() else "a rejection needs a written justification"
        missing = [n for n in step.requires if n not in self._done_at and n not in rec.results]
        if missing:
            return f"cannot approve {step.name} before {', '.join(missing)}"
        if step.release:
            if rec.open_deviations():
                return "cannot release with open deviations"
            return release_refusal(rec, self._definition().specification)
        return None

    # -- accessors ---------------------------------------------------------------------------

    def _record(self) -> BatchRecord:
        if self._rec is None:
            raise ApplicationError("batch not initialised", non_retryable=True)
        return self._rec

    def _definition(self) -> CompiledDefinition:
        if self._defn is None:
            raise ApplicationError("batch not initialised", non_retryable=True)
        return self._defn

    def _started(self) -> BatchStart:
        if self._start is None:
            raise ApplicationError("batch not initialised", non_retryable=True)
        return self._start
