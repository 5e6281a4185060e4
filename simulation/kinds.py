"""Simulation semantics of every step kind, one function each, mirroring
`workflows/engine/steps/<kind>.py`; importing this module fails when a kind of the language
has no function here, as the engine's registry does."""

from __future__ import annotations

import typing
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from simulation import runner
from simulation.batch import SimBatch
from simulation.calls import Report, ask_and_wait, call_step
from workflows.engine.errors import (
    ANY_TECHNICAL,
    CONTINUE_OR_ABANDON,
    EXCEPTION_OR_ABANDON,
    RETRY_OR_ABANDON,
    Abandon,
    EndBatch,
    StepFailed,
)
from workflows.functions import ORDER_INPUTS, Value, registered
from workflows.judgement import describe_result, judge_temperature, out_of_specification
from workflows.language import (
    Branch,
    Compute,
    Decide,
    End,
    FollowUp,
    Gate,
    Handoff,
    Hold,
    Parallel,
    Repeat,
    Series,
    Step,
    Task,
    WaitFor,
)
from workflows.model import DecisionAction, DeviationKind

Proc = Generator[simpy.Event, Any, None]
H = 3600.0


def _h(td: Any) -> float:
    return float(td.total_seconds()) / H


def _absorb(b: SimBatch, step: str, report: Report) -> None:
    for name, (value, unit) in report.results.items():
        b.record_result(step, name, value, unit)
    for lot in report.lots:
        if lot not in b.rec.lots:
            b.rec.lots.append(lot)


def task(b: SimBatch, step: Task, stage: str, iteration: int) -> Proc:
    """Call the activity (instant in simulated time); the results it computes are none."""
    call_step(b, step.call, step.name)
    if b.slot_pending_h > 0:
        # The batch's work starts with its slot: a later slot is a wait for a lane.
        wait, b.slot_pending_h = b.slot_pending_h, 0.0
        yield b.env.timeout(wait)
    if step.records:
        raise StepFailed(
            DeviationKind.STEP_FAILED,
            f"{step.call.activity} did not compute {', '.join(step.records)}",
            RETRY_OR_ABANDON,
        )


def wait_for(b: SimBatch, step: WaitFor, stage: str, iteration: int) -> Proc:
    """Ask, wait for the report; an infusion report marks the batch infused."""
    deadline = _h(step.deadline)
    report = yield from ask_and_wait(
        b, step.name, step.event, step.ask, deadline, records=step.records
    )
    _absorb(b, step.name, report)
    if step.infusion:
        b.rec.infused = True
        b.infused_h = b.env.now


def handoff(b: SimBatch, step: Handoff, stage: str, iteration: int) -> Proc:
    """Custody: identity and label, then the leg's temperature evidence."""
    report = yield from ask_and_wait(b, step.name, "custody", step.ask, _h(step.deadline))
    if not report.identity_ok:
        raise StepFailed(
            DeviationKind.IDENTITY_MISMATCH, "scanned COI/label do not match", RETRY_OR_ABANDON
        )
    if step.temperature is not None:
        finding = judge_temperature(step.temperature, report.temperature)
        if finding is not None:
            raise StepFailed(finding.kind, finding.description, CONTINUE_OR_ABANDON)


def gate(b: SimBatch, step: Gate, stage: str, iteration: int) -> Proc:
    """A reviewer decides; a refused or rejected approval abandons, a release releases."""
    refusal = yield from b.network.gate_decision(b, step)
    if refusal is not None:
        raise Abandon(f"rejected at {step.name}: {refusal}")
    if step.release:
        b.rec.released = True


def hold(b: SimBatch, step: Hold, stage: str, iteration: int) -> Proc:
    """Arm the hold's clock in the background; the process goes on at once."""
    started = b.done_at.get(step.start)
    if started is not None:
        if step.min is not None:
            b.not_before[step.end] = (started + _h(step.min), step.name)
        b.env.process(_watch(b, step, started))
    yield from ()


def _watch(b: SimBatch, step: Hold, started: float) -> Proc:
    deadline = started + _h(step.max) if step.max is not None else None
    while not (b.done_at.get(step.end, started) > started or b.closed):
        if deadline is not None and b.env.now >= deadline:
            runner.open_background(
                b,
                DeviationKind.HOLD_BREACHED,
                step.name,
                f"more than {step.max} between {step.start} and {step.end}",
            )
            return
        done = b.done_event(step.end)
        yield done if deadline is None else done | b.env.timeout(deadline - b.env.now)
    b.not_before.pop(step.end, None)
    ended = b.done_at.get(step.end)
    too_soon = step.min is not None and ended is not None and ended - started < _h(step.min)
    if ended is not None and ended > started and too_soon:
        runner.open_background(
            b,
            DeviationKind.INTERVAL_TOO_SHORT,
            step.name,
            f"{step.end} came before the minimum of {step.min} after {step.start}",
        )


def decide(b: SimBatch, step: Decide, stage: str, iteration: int) -> Proc:
    """Judge results against the specification (`steps/decide.py`)."""
    rec = b.rec
    missing = [n for n in step.results if n not in rec.results]
    if missing:
        raise StepFailed(
            DeviationKind.STEP_FAILED, f"results missing: {', '.join(missing)}", RETRY_OR_ABANDON
        )
    oos = out_of_specification(rec, step.results)
    if oos:
        allowed: tuple[DecisionAction, ...] = (DecisionAction.ABANDON,)
        if step.exceptional_release:
            allowed = (DecisionAction.EXCEPTIONAL_RELEASE, DecisionAction.ABANDON)
        raise StepFailed(
            DeviationKind.OUT_OF_SPECIFICATION,
            "out of specification: " + "; ".join(describe_result(r) for r in oos),
            allowed,
            tuple(r.name for r in oos),
        )
    yield from ()


def parallel(b: SimBatch, step: Parallel, stage: str, iteration: int) -> Proc:
    """Every inner step at once; one that unwinds stops the others."""
    env = b.env
    procs = [env.process(runner.execute(b, s, stage, iteration)) for s in step.steps]
    try:
        yield env.all_of(procs)
    except BaseException:
        for p in procs:
            if p.is_alive:
                p.interrupt("sibling unwound")
            p.defused = True
        raise


def repeat(b: SimBatch, step: Repeat, stage: str, iteration: int) -> Proc:
    """Attempts until `until` meets specification; exhaustion abandons or deviates."""
    for i in range(1, step.max_times + 1):
        for inner in step.steps:
            yield from runner.execute(b, inner, stage, i)
        result = b.rec.results.get(step.until)
        if result is not None and result.in_specification:
            return
    description = f"{step.until} not met after {step.max_times} attempt(s)"
    if step.on_exhausted == "abandon":
        raise Abandon(f"{step.name}: {description}")
    raise StepFailed(
        DeviationKind.REPEAT_EXHAUSTED, description, EXCEPTION_OR_ABANDON, (step.until,)
    )


def branch(b: SimBatch, step: Branch, stage: str, iteration: int) -> Proc:
    """Run the case the recorded result or the order's option selects."""
    rec = b.rec
    if step.by == "option":
        value = rec.options.get(step.on)
    else:
        result = rec.results.get(step.on)
        value = None if result is None else str(result.value)
    chosen = step.cases.get(value) if value is not None else None
    if chosen is None:
        chosen = step.otherwise
    if value is None or chosen is None:
        raise StepFailed(
            DeviationKind.STEP_FAILED, f"no case for {step.on} = {value!r}", RETRY_OR_ABANDON
        )
    for inner in chosen:
        yield from runner.execute(b, inner, stage, iteration)


def compute(b: SimBatch, step: Compute, stage: str, iteration: int) -> Proc:
    """Run the registered product function, as the engine does (`steps/compute.py`)."""
    c = registered(step.function)
    if c is None or c.source_sha256 != step.function_sha256:
        raise StepFailed(
            DeviationKind.RETRIES_EXHAUSTED, f"{step.function}: code not pinned", ANY_TECHNICAL
        )
    rec = b.rec
    values: dict[str, Value] = {}
    missing = []
    for name in step.inputs:
        ordered = getattr(b.order, name, None) if name in ORDER_INPUTS else None
        if ordered is not None:
            values[name] = ordered
        elif name in rec.options:
            values[name] = rec.options[name]
        elif name in rec.results:
            values[name] = rec.results[name].value
        elif name in c.defaults:
            values[name] = c.defaults[name]
        else:
            missing.append(name)
    if missing:
        raise StepFailed(
            DeviationKind.STEP_FAILED, f"cannot run without {', '.join(missing)}", RETRY_OR_ABANDON
        )
    try:
        out = c(values)
    except Exception as err:  # the product's code: its failure is the step's
        raise StepFailed(
            DeviationKind.STEP_FAILED, f"{step.function} failed: {err}", RETRY_OR_ABANDON
        ) from err
    spec = b.defn.specification
    for name, value in out.items():
        b.record_result(step.name, name, value, spec[name].unit if name in spec else "")
    yield from ()


def follow_up(b: SimBatch, step: FollowUp, stage: str, iteration: int) -> Proc:
    """Visits on their schedule; a missed one is assessed without stopping the schedule."""
    origin = b.env.now
    window = _h(step.window)
    for n, offset in enumerate(step.visits, 1):
        opens = origin + _h(offset) - window
        if opens > b.env.now:
            yield b.env.timeout(opens - b.env.now)
        try:
            report = yield from ask_and_wait(
                b, step.name, step.event, step.ask, window * 2, records=step.records
            )
        except StepFailed as failure:
            if failure.kind != DeviationKind.DEADLINE_MISSED:
                raise
            runner.open_background(
                b, DeviationKind.VISIT_MISSED, step.name, f"visit {n} missed", blocking=False
            )
            continue
        _absorb(b, step.name, report)
        runner.judge_fresh(b, step.name, blocking=False)


def series(b: SimBatch, step: Series, stage: str, iteration: int) -> Proc:
    """Occurrences on their schedule, each judged; a missed one does not stop the series."""
    origin = b.env.now
    for n in range(1, step.count + 1):
        due = origin + _h(step.every) * (n - 1)
        if due > b.env.now:
            yield b.env.timeout(due - b.env.now)
        b.iterations[step.name] = n
        try:
            report = yield from ask_and_wait(
                b, step.name, step.event, step.ask, _h(step.window), records=step.records
            )
        except StepFailed as failure:
            if failure.kind != DeviationKind.DEADLINE_MISSED:
                raise
            runner.open_background(
                b,
                DeviationKind.OCCURRENCE_MISSED,
                step.name,
                f"occurrence {n} of {step.count} missed",
                blocking=False,
            )
            continue
        _absorb(b, step.name, report)
        runner.judge_fresh(b, step.name, blocking=step.breach_stops)


def end(b: SimBatch, step: End, stage: str, iteration: int) -> Proc:
    """Unwind to the batch, which compensates and ends with the outcome."""
    raise EndBatch(step.name, step.outcome)
    yield  # a generator like every kind


@dataclass(frozen=True)
class Kind:
    """How the simulator runs one step kind (`lifecycle` as in the engine's registry)."""

    run: Callable[[SimBatch, Any, str, int], Proc]
    lifecycle: bool = True


KINDS: dict[str, Kind] = {
    "task": Kind(task),
    "wait_for": Kind(wait_for),
    "handoff": Kind(handoff),
    "gate": Kind(gate),
    "hold": Kind(hold, lifecycle=False),
    "decide": Kind(decide),
    "parallel": Kind(parallel),
    "repeat": Kind(repeat),
    "follow_up": Kind(follow_up),
    "branch": Kind(branch),
    "end": Kind(end, lifecycle=False),
    "compute": Kind(compute),
    "series": Kind(series),
}


def _language_kinds() -> set[str]:
    union = typing.get_args(Step)[0]
    return {cls.model_fields["kind"].default for cls in typing.get_args(union)}


_missing = _language_kinds() - set(KINDS)
if _missing:
    raise ImportError(f"step kinds without simulation semantics: {_missing}")
