"""`compute`: run a registered product function in the workflow; record what it read and
what it computed; the runner then judges the outputs like any result."""

from __future__ import annotations

import json
from collections.abc import Mapping

from workflows.engine import journal, recording
from workflows.engine.context import StepContext
from workflows.engine.errors import ANY_TECHNICAL, RETRY_OR_ABANDON, StepFailed
from workflows.engine.state import BatchState
from workflows.functions import ORDER_INPUTS, Value, registered
from workflows.language import Compute
from workflows.model import AuditAction, DeviationKind, ResultValue, StepOutput


def _inputs(state: BatchState, step: Compute, defaults: Mapping[str, Value]) -> dict[str, Value]:
    rec, order = state.rec, state.start.order
    values: dict[str, Value] = {}
    missing = []
    for name in step.inputs:
        if name in ORDER_INPUTS and getattr(order, name) is not None:
            values[name] = getattr(order, name)
        elif name in rec.options:
            values[name] = rec.options[name]
        elif name in rec.results:
            values[name] = rec.results[name].value
        elif name in defaults:
            values[name] = defaults[name]
        else:
            missing.append(name)
    if missing:
        raise StepFailed(
            DeviationKind.STEP_FAILED,
            f"{step.function} cannot run without {', '.join(missing)}",
            RETRY_OR_ABANDON,
        )
    return values


async def run(ctx: StepContext, step: Compute) -> None:
    """Compute with the code the definition pinned; a changed or failing function fails
    the step for a person to decide."""
    state = ctx.state
    c = registered(step.function)
    if c is None or c.source_sha256 != step.function_sha256:
        raise StepFailed(
            DeviationKind.RETRIES_EXHAUSTED,
            f"{step.function}: this worker does not have the code the batch's definition pins",
            ANY_TECHNICAL,
        )
    values = _inputs(state, step, c.defaults)
    try:
        out = c(values)
    except Exception as err:  # the product's code: any failure is the step's, not the engine's
        raise StepFailed(
            DeviationKind.STEP_FAILED,
            f"{step.function} failed: {type(err).__name__}: {err}",
            RETRY_OR_ABANDON,
        ) from err
    spec = state.defn.specification
    results = {
        name: ResultValue(
            value=value,
            unit=spec[name].unit if name in spec else "",
            method=f"computed: {step.function}",
        )
        for name, value in out.items()
    }
    journal.audit(
        state,
        journal.SYSTEM,
        AuditAction.VALUE_COMPUTED,
        step.name,
        old=json.dumps(values, sort_keys=True),
        new=json.dumps(out, sort_keys=True),
        reason=step.function,
    )
    recording.absorb(state, step.name, StepOutput(results=results))
