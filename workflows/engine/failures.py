"""Deviations: opening one, waiting for its disposition, and judging fresh results.

A failed step becomes a deviation that a person disposes of (retry, continue, conditional
acceptance, rework, exceptional release, abandon); this module is where that happens for every
step kind.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.engine import calls, journal
from workflows.engine.errors import CONTINUE_OR_ABANDON, OOS, Abandon, Rework, StepFailed
from workflows.engine.state import BatchState
from workflows.judgement import describe_result, exceptionally_released, out_of_specification
from workflows.model import AuditAction, DecisionAction, Deviation, DeviationKind

#: Asked where the rule that judges every specified result (issue 9) and the rule before it
#: disagree, so histories recorded before it replay as they ran.
PATCH_JUDGE_RESULTS = "judge-every-specified-result"


def open_deviation(
    state: BatchState,
    kind: DeviationKind,
    step: str,
    description: str,
    allowed: tuple[DecisionAction, ...],
    *,
    blocking: bool = True,
    results: tuple[str, ...] = (),
    rework_to: tuple[str, ...] = (),
) -> Deviation:
    """Record a deviation (blocking ones quarantine or hold the batch) and audit it."""
    rec = state.rec
    dev = Deviation(
        deviation_id=f"DEV-{len(rec.deviations) + 1}",
        kind=kind,
        step=step,
        opened_at=workflow.now(),
        description=description,
        allowed=allowed,
        blocking=blocking,
        results=results,
        rework_to=rework_to,
    )
    rec.deviations.append(dev)
    workflow.logger.warning(
        "deviation opened", extra={"step": step, "deviation": dev.deviation_id, "kind": kind}
    )
    journal.audit(
        state,
        journal.SYSTEM,
        AuditAction.DEVIATION_OPENED,
        dev.deviation_id,
        new=f"{kind}: {description}",
    )
    return dev


async def deviate(state: BatchState, step: str, failure: StepFailed) -> DecisionAction:
    """Open a deviation for `failure` and wait for its disposition; abandon and rework unwind
    (a rework to the steps the definition allows going back to from `step`)."""
    dev = open_deviation(
        state,
        failure.kind,
        step,
        failure.description,
        failure.allowed,
        results=failure.results,
        rework_to=state.defn.rework_targets(step),
    )
    await calls.wait(state, lambda: dev.deviation_id in state.dispositions)
    decision = state.dispositions[dev.deviation_id]
    if decision.body.action == DecisionAction.ABANDON:
        raise Abandon(f"{dev.deviation_id} disposed: abandon ({decision.body.reason})")
    if decision.body.action == DecisionAction.REWORK and decision.body.rework_to:
        raise Rework(decision.body.rework_to, dev.deviation_id)
    return decision.body.action


def judge_fresh(state: BatchState, step: str, *, blocking: bool = True) -> None:
    """Judge the specified results `step` just recorded, unless a later decide step or an
    enclosing repeat judges them: an out-of-specification one is a deviation at once, so a
    computed dose over its limit stops the batch before administration."""
    names = state.fresh.pop(step, [])
    if not names:
        return  # most steps record no specified result: no walk over the definition
    later = state.defn.judged_later()
    rec = state.rec
    failing = [
        r
        for r in out_of_specification(rec, [n for n in names if n not in later])
        if not exceptionally_released(rec, r.name)
    ]
    if not failing or not workflow.patched(PATCH_JUDGE_RESULTS):
        return
    description = "out of specification: " + "; ".join(describe_result(r) for r in failing)
    results = tuple(r.name for r in failing)
    if not blocking:
        open_deviation(
            state,
            DeviationKind.OUT_OF_SPECIFICATION,
            step,
            description,
            CONTINUE_OR_ABANDON,
            blocking=False,
            results=results,
        )
        return
    raise StepFailed(DeviationKind.OUT_OF_SPECIFICATION, description, OOS, results)
