"""Calling the outside world and waiting for it: the one place a step's `Call` becomes a
Temporal activity (with the policy translated by `workflows.policy`) and a wait honours
abandonment and deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

from workflows.engine import carrying, journal
from workflows.engine.errors import ANY_TECHNICAL, RETRY_OR_ABANDON, Abandon, StepFailed
from workflows.engine.state import BatchState
from workflows.language import Call, param_text
from workflows.model import DeviationKind, ExternalEvent, StepCall, StepOutput
from workflows.policy import BUSINESS_ERROR_TYPES, activity_options

#: Patch id: a wait whose condition already holds returns at once (`wait`).
PROMPT_PATCH = "satisfied-wait-returns-at-once"


async def wait(
    state: BatchState, pred: Callable[[], bool], timeout: timedelta | None = None
) -> None:
    """Wait for `pred`; abandonment requested meanwhile unwinds the batch.

    A condition that already holds returns without yielding (batches started with
    `PROMPT_PATCH`): a condition is only checked once nothing else is ready, so yielding here
    let the projection loop find the events of a report the step's next call was about to
    carry, and send them by an activity of their own (a workflow task and an activity more per
    operation)."""

    def done() -> bool:
        return pred() or state.abandon is not None

    if not (state.prompt and done()):
        await workflow.wait_condition(done, timeout=timeout)
    if state.abandon is not None:
        raise Abandon(state.abandon)


async def ask_and_wait(
    state: BatchState,
    step: str,
    event_type: str,
    ask: Call | None,
    deadline: timedelta | None,
    *,
    records: tuple[str, ...] = (),
    extra: dict[str, str] | None = None,
) -> ExternalEvent:
    """Ask the outside world to act (optional), then wait for its report until `deadline`."""
    if ask is not None:
        # A new request: an older report for this step answers nothing now.
        state.events.pop(step, None)
    state.expecting[step] = event_type
    assert deadline is not None
    state.deadlines[step] = workflow.now() + deadline
    journal.refresh(state)
    try:
        if ask is not None:
            await call_step(
                state, ask, step, expects=event_type, records=records, extra=extra or {}
            )
        remaining = state.deadlines[step] - workflow.now()
        await wait(state, lambda: step in state.events, timeout=max(remaining, timedelta(0)))
    except TimeoutError as err:
        raise StepFailed(
            DeviationKind.DEADLINE_MISSED,
            f"no '{event_type}' report within {deadline}",
            RETRY_OR_ABANDON,
        ) from err
    finally:
        state.expecting.pop(step, None)
        state.deadlines.pop(step, None)
        journal.refresh(state)
    return state.events.pop(step)


async def call_step(
    state: BatchState,
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
        return await call(state, c, step, key_suffix, expects=expects, records=records, extra=extra)
    except ActivityError as err:
        if is_cancelled_exception(err) and workflow.patched("activity-cancel-unwinds"):
            # Temporal cancelled the activity because this step's task was cancelled (the batch
            # was withdrawn, or a parallel sibling unwound): keep unwinding, it is no failure.
            raise asyncio.CancelledError(f"{c.activity} cancelled") from err
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in BUSINESS_ERROR_TYPES:
            raise StepFailed(
                DeviationKind.STEP_FAILED, f"{c.activity}: {cause.message}", RETRY_OR_ABANDON
            ) from err
        raise StepFailed(
            DeviationKind.RETRIES_EXHAUSTED,
            f"{c.activity} failed after its retry policy: {cause or err}",
            ANY_TECHNICAL,
        ) from err


async def call(
    state: BatchState,
    c: Call,
    step: str,
    key_suffix: str | None = None,
    *,
    expects: str | None = None,
    records: tuple[str, ...] = (),
    extra: dict[str, str] | None = None,
) -> StepOutput:
    """Run `c` as an activity with an idempotency key derived from batch, step and attempt."""
    start, rec = state.start, state.rec
    # A new iteration or a person's retry is a new request; a Temporal retry is not.
    attempt = f"i{state.iterations.get(step, 1)}r{state.person_retries.get(step, 0)}"
    suffix = key_suffix or attempt
    arg = StepCall(
        batch_id=rec.batch_id,
        product=rec.product,
        step=step,
        activity=c.activity,
        idempotency_key=f"{rec.batch_id}:{step}:{c.activity}:{suffix}",
        site_role=c.site,
        site=rec.sites.get(c.site, journal.SYSTEM),
        sites=rec.sites if "chain" in c.params else {},
        coi=rec.coi,
        order_id=rec.order_id,
        params={**{k: param_text(v) for k, v in c.params.items()}, **(extra or {})},
        expects=expects,
        records=list(records),
        window_start=start.order.treatment_window_start,
        window_end=start.order.treatment_window_end,
        weight_kg=start.order.weight_kg,
        results={name: r.value for name, r in rec.results.items()},
    )
    audit, end = carrying.carry(state)
    if audit:
        arg = arg.model_copy(update={"audit": audit})
    state.calls_in_flight += 1
    try:
        output: StepOutput = await workflow.execute_activity(
            c.activity,
            arg,
            result_type=StepOutput,
            summary=f"{step}: {c.activity}",
            **activity_options(c.policy),
        )
    except BaseException:
        carrying.carried(state, end, landed=False)
        raise
    finally:
        state.calls_in_flight -= 1
    carrying.carried(state, end, landed=output.audit_landed)
    return output
