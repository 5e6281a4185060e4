"""`decide`: judge recorded results against the product's specification."""

from __future__ import annotations

from workflows.engine.context import StepContext
from workflows.engine.errors import RETRY_OR_ABANDON, StepFailed
from workflows.judgement import describe_result, out_of_specification
from workflows.language import Decide
from workflows.model import DecisionAction, DeviationKind


async def run(ctx: StepContext, step: Decide) -> None:
    """A missing result fails the step; an out-of-specification one is an OOS deviation
    (exceptional release allowed only where the definition says so)."""
    rec = ctx.state.rec
    oos = out_of_specification(rec, step.results)
    missing = [name for name in step.results if name not in rec.results]
    if missing:
        raise StepFailed(
            DeviationKind.STEP_FAILED,
            f"results missing: {', '.join(missing)}",
            RETRY_OR_ABANDON,
        )
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
