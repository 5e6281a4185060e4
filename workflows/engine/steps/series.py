"""`series`: repeated observations or doses on a schedule of durable timers. Each value is
kept with its time and judged; a missed occurrence or a value out of its limit is assessed
by QA while the schedule goes on; a series that may stop early ends on a "stopped" report."""

from __future__ import annotations

import contextlib
from datetime import datetime

from temporalio import workflow

from workflows.engine import calls, failures, journal, recording
from workflows.engine.context import StepContext
from workflows.engine.errors import CONTINUE_OR_ABANDON, StepFailed
from workflows.engine.state import BatchState
from workflows.language import Series
from workflows.model import AuditAction, DeviationKind, ExternalEvent, Observation

#: The outcome of a report that stops a series which `may_stop`.
STOPPED = "stopped"


async def run(ctx: StepContext, step: Series) -> None:
    """Each occurrence: wait until it is due, ask, wait for its report within the window."""
    state = ctx.state
    origin = workflow.now()
    for n in range(1, step.count + 1):
        due = origin + step.every * (n - 1)
        if due > workflow.now():
            state.deadlines[step.name] = due
            journal.refresh(state)
            # Sleep until the occurrence is due; an abandonment still wakes the batch.
            with contextlib.suppress(TimeoutError):
                await calls.wait(state, lambda: False, timeout=due - workflow.now())
        state.iterations[step.name] = n
        try:
            event = await calls.ask_and_wait(
                state, step.name, step.event, step.ask, step.window, records=step.records
            )
        except StepFailed as failure:
            if failure.kind != DeviationKind.DEADLINE_MISSED:
                raise
            failures.open_deviation(
                state,
                DeviationKind.OCCURRENCE_MISSED,
                step.name,
                f"occurrence {n} of {step.count} not reported within {step.window}",
                CONTINUE_OR_ABANDON,
                blocking=False,
            )
            continue
        if event.outcome == STOPPED and step.may_stop:
            journal.audit(
                state,
                event.reporter,
                AuditAction.SERIES_STOPPED,
                step.name,
                new=f"after {n - 1} of {step.count}",
                reason=event.data.get("reason"),
            )
            return
        _observe(state, step, n, event)


def _observe(state: BatchState, step: Series, n: int, event: ExternalEvent) -> None:
    """Record the occurrence's values as observations and judge them at once."""
    recording.absorb_event(state, step.name, event)
    at: datetime = workflow.now()
    for name in step.records:
        result = state.rec.results.get(name)
        if name not in event.results or result is None:
            continue
        state.rec.observations.append(
            Observation(
                name=name,
                value=result.value,
                unit=result.unit,
                step=step.name,
                occurrence=n,
                at=at,
                reporter=event.reporter,
                in_specification=result.in_specification,
            )
        )
        journal.audit(
            state,
            event.reporter,
            AuditAction.OBSERVATION_RECORDED,
            step.name,
            new=f"{name} #{n} = {result.value}",
        )
    failures.judge_fresh(state, step.name, blocking=step.breach_stops)
