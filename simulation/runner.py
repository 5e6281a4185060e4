"""The step lifecycle and the whole batch, as the durable engine runs them.

Mirrors `workflows.engine.runner` (wait while a blocking deviation is open, record the run,
register the compensation, run the kind, judge fresh results, turn a failure into a
deviation that waits for its disposition) and `workflows.engine.workflow` (walk the stages;
complete once every deviation is disposed of; on abandonment or an `end`, compensate in
reverse). What the engine reads from Temporal (the clock, signals) comes from SimPy here.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from simulation import kinds
from simulation.batch import SimBatch
from simulation.calls import effect
from workflows.engine.errors import CONTINUE_OR_ABANDON, OOS, Abandon, EndBatch, StepFailed
from workflows.judgement import describe_result, exceptionally_released, out_of_specification
from workflows.language import Step
from workflows.model import DecisionAction, Deviation, DeviationKind, StepState

Proc = Generator[simpy.Event, Any, None]


def execute(b: SimBatch, step: Step, stage: str, iteration: int) -> Proc:
    """Run one step; a failure becomes a deviation and waits for its disposition."""
    kind = kinds.KINDS[step.kind]
    if not kind.lifecycle:
        yield from kind.run(b, step, stage, iteration)
        return
    earliest = b.not_before.get(step.name)
    if earliest is not None and b.env.now < earliest[0]:
        yield b.env.timeout(earliest[0] - b.env.now)
    while True:
        while b.rec.deviations and b.rec.open_deviations(blocking_only=True):
            yield b.deviation_changed()
        run_index = b.begin(step, stage, iteration)
        try:
            undo = getattr(step, "compensation", None)
            if undo is not None and all(name != step.name for name, _ in b.compensations):
                b.compensations.append((step.name, undo))
            yield from kind.run(b, step, stage, iteration)
            judge_fresh(b, step.name)
        except StepFailed as failure:
            b.end(run_index, StepState.FAILED)
            action = yield from deviate(b, step.name, failure)
            if action == DecisionAction.RETRY:
                b.person_retries[step.name] = b.person_retries.get(step.name, 0) + 1
                continue
            if action == DecisionAction.EXCEPTIONAL_RELEASE:
                b.rec.exceptional_release = True
            # Continued as is: the step counts as done for what comes after it.
            b.mark_done(step.name)
            return
        b.end(run_index, StepState.DONE)
        return


def deviate(b: SimBatch, step: str, failure: StepFailed) -> Generator[simpy.Event, Any, str]:
    """Open a deviation for `failure` and wait for its disposition; abandon unwinds."""
    dev = b.open_deviation(
        failure.kind, step, failure.description, failure.allowed, results=failure.results
    )
    action = yield from b.network.dispose(b, dev)
    b.dispose(dev.deviation_id, action, "simulated disposition")
    if action == DecisionAction.ABANDON:
        raise Abandon(f"{dev.deviation_id} disposed: abandon (simulated disposition)")
    return action


def background(b: SimBatch, dev: Deviation) -> Proc:
    """Dispose of a deviation nobody waits for in line (a breached hold, a missed visit); an
    abandonment unwinds the batch wherever it is, as the engine's `state.abandon` does."""
    action = yield from b.network.dispose(b, dev)
    if b.rec.finished:
        return
    b.dispose(dev.deviation_id, action, "simulated disposition")
    if action == DecisionAction.ABANDON and b.abandon is None:
        b.abandon = f"{dev.deviation_id} disposed: abandon (simulated disposition)"
        if b.process is not None and b.process.is_alive:
            b.process.interrupt(b.abandon)


def open_background(
    b: SimBatch,
    kind: DeviationKind,
    step: str,
    description: str,
    *,
    blocking: bool = True,
    results: tuple[str, ...] = (),
) -> None:
    """Open a deviation outside the step's own line and have QA dispose of it."""
    dev = b.open_deviation(
        kind, step, description, CONTINUE_OR_ABANDON, blocking=blocking, results=results
    )
    b.env.process(background(b, dev))


def judge_fresh(b: SimBatch, step: str, *, blocking: bool = True) -> None:
    """Judge the specified results `step` just recorded (`failures.judge_fresh`)."""
    names = b.fresh.pop(step, [])
    if not names:
        return
    later = b.network.judged_later(b.defn)
    rec = b.rec
    failing = [
        r
        for r in out_of_specification(rec, [n for n in names if n not in later])
        if not exceptionally_released(rec, r.name)
    ]
    if not failing:
        return
    description = "out of specification: " + "; ".join(describe_result(r) for r in failing)
    results = tuple(r.name for r in failing)
    if not blocking:
        open_background(
            b,
            DeviationKind.OUT_OF_SPECIFICATION,
            step,
            description,
            blocking=False,
            results=results,
        )
        return
    raise StepFailed(DeviationKind.OUT_OF_SPECIFICATION, description, OOS, results)


def run_batch(b: SimBatch) -> Proc:
    """The whole batch, from its first step to completion, abandonment or its end."""
    try:
        try:
            for st in b.defn.stages:
                b.rec.stage = st.name
                for step in st.steps:
                    yield from execute(b, step, st.name, 1)
            # A batch completes only once QA has disposed of every deviation.
            while b.rec.open_deviations():
                yield b.deviation_changed()
            b.rec.completed = True
        except simpy.Interrupt as stop:
            raise Abandon(str(stop.cause)) from None
    except Abandon as ab:
        compensate(b)
        b.rec.abandoned_reason = b.abandon or ab.reason
    except EndBatch as end:
        compensate(b)
        b.rec.ended_outcome = end.outcome
    b.close()


def compensate(b: SimBatch) -> None:
    """Run every registered compensation in reverse, each recorded."""
    for step_name, undo in reversed(b.compensations):
        effect(b, undo, step_name)
        b.rec.compensations.append(f"{step_name}: {undo.activity}")
