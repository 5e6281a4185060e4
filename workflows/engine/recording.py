"""Recording what happened to a step: its runs, results, lots and the COI."""

from __future__ import annotations

import json

from temporalio import workflow

from workflows.engine import expiry, journal
from workflows.engine.state import BatchState
from workflows.language import Step
from workflows.model import (
    AuditAction,
    ExternalEvent,
    RecordedResult,
    StepOutput,
    StepRun,
    StepState,
)

SYSTEM = journal.SYSTEM


def resumed_run(state: BatchState, step: Step) -> int | None:
    """The still-active run of the step this batch continued as new inside, if any."""
    runs = state.rec.steps
    for i in range(len(runs) - 1, -1, -1):
        if runs[i].step == step.name and runs[i].state == StepState.ACTIVE:
            return i
    return None


def begin(state: BatchState, step: Step, stage: str, iteration: int) -> int:
    """Record that `step` starts (its `iteration`); return the index of its run."""
    rec = state.rec
    rec.steps.append(
        StepRun(
            step=step.name,
            stage=stage,
            iteration=iteration,
            state=StepState.ACTIVE,
            started_at=workflow.now(),
        )
    )
    state.iterations[step.name] = iteration
    # workflow.logger is replay-aware: the line is written once, not again on replay.
    workflow.logger.info("step started", extra={"step": step.name, "iteration": iteration})
    journal.audit(
        state, SYSTEM, AuditAction.STEP_STARTED, step.name, new=f"{step.kind} #{iteration}"
    )
    return len(rec.steps) - 1


def end(state: BatchState, index: int, outcome: StepState) -> None:
    """Record that run `index` ended with `outcome` (once)."""
    rec = state.rec
    run = rec.steps[index]
    if run.state != StepState.ACTIVE:
        return
    now = workflow.now()
    rec.steps[index] = run.model_copy(
        update={
            "state": outcome,
            "ended_at": now,
            "performed_by": state.performers.get(run.step),
        }
    )
    if outcome == StepState.DONE:
        state.done_at[run.step] = now
    journal.audit(
        state, SYSTEM, AuditAction.step_ended(outcome), run.step, old="active", new=outcome.value
    )


def absorb(state: BatchState, step: str, output: StepOutput) -> None:
    """Record what an activity handed back: the COI, results and consumed lots."""
    rec = state.rec
    if output.coi is not None and rec.coi is None:
        rec.coi = output.coi
        journal.audit(state, SYSTEM, AuditAction.COI_ALLOCATED, output.coi)
    for name, value in output.results.items():
        record_result(state, step, name, value.value, value.unit, SYSTEM)
    for lot in output.lots:
        consume_lot(state, step, lot)
    if output.expires is not None:
        expiry.watch(state, step, output.expires)


def absorb_event(state: BatchState, step: str, event: ExternalEvent) -> None:
    """Record what a report carried: its reporter performed the step; results and lots."""
    state.performers[step] = event.reporter
    for name, value in event.results.items():
        record_result(state, step, name, value.value, value.unit, event.reporter)
    for lot in event.lots:
        consume_lot(state, step, lot)


def record_result(
    state: BatchState, step: str, name: str, value: float | str, unit: str, reporter: str
) -> None:
    """Record one result with its verdict against the specification (judged later by
    `failures.judge_fresh`, a decide step or a repeat)."""
    rec, spec = state.rec, state.defn.specification.get(name)
    old = rec.results.get(name)
    if spec is not None:
        state.fresh.setdefault(step, []).append(name)
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
    journal.audit(
        state,
        reporter,
        AuditAction.RESULT_RECORDED,
        name,
        old=None if old is None else f"{old.value}{old.unit}",
        new=f"{value}{unit}",
    )


def consume_lot(state: BatchState, step: str, lot: str) -> None:
    """Record that the batch consumed material `lot` (genealogy)."""
    rec = state.rec
    if lot not in rec.lots:
        rec.lots.append(lot)
    journal.audit(
        state, SYSTEM, AuditAction.LOT_CONSUMED, lot, new=json.dumps({"coi": rec.coi, "step": step})
    )
