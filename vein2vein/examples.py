"""Example event bodies, derived from a product's definition: what an integration sends when a
step waits for it (`POST /api/events`, `vein2vein batch event`).

Nothing is written by hand per event type: the step says which event it waits for and which
results its report records, the specification gives each result's unit and a value inside its
limits, and a handoff's declared temperature range gives a logger summary inside it. So every
product, including one added by a deployment, has examples that its own batches accept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from activities.sim_tables import NOMINAL
from workflows.definition import CompiledDefinition
from workflows.language import FollowUp, Handoff, Limit, Series, Step, Task, WaitFor

__all__ = ["EXAMPLE_BATCH", "example_event", "examples_by_type", "reported_steps"]

#: Placeholder batch id in an example (replace it with the batch's own).
EXAMPLE_BATCH = "B-EXAMPLE000"
#: Placeholder COI: a custody report must carry the COI scanned from the label.
EXAMPLE_COI = "V2VEXAMPLE0000"
_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def reported_steps(defn: CompiledDefinition) -> list[tuple[str, str]]:
    """(step, event type) of every step that waits for a report from outside, in order."""
    out = []
    for _, step in defn.steps():
        event = _event_type(step)
        if event is not None:
            out.append((step.name, event))
    return out


def _event_type(step: Step) -> str | None:
    if isinstance(step, Handoff):
        return "custody"
    if isinstance(step, WaitFor | FollowUp | Series):
        return step.event
    return None


def _value(name: str, limit: Limit | None) -> tuple[float | str, str]:
    """A value the specification accepts (or the nominal one), with its unit."""
    if limit is not None:
        if limit.allowed:
            return limit.allowed[0], limit.unit
        if limit.min is not None and limit.max is not None:
            return round((limit.min + limit.max) / 2, 6), limit.unit
        if limit.min is not None:
            return round(limit.min * 1.2 if limit.min > 0 else limit.min + 1, 6), limit.unit
        if limit.max is not None:
            return round(limit.max / 2, 6), limit.unit
    nominal, _, unit = NOMINAL.get(name, (1.0, 0.0, ""))
    return nominal, (limit.unit if limit is not None else unit)


def example_event(
    defn: CompiledDefinition,
    step_name: str,
    *,
    batch_id: str = EXAMPLE_BATCH,
    coi: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The body of a report that `step_name` of `defn` accepts, as JSON-ready data. Raises
    `KeyError` for an unknown step and `ValueError` for a step that waits for no report."""
    step = defn.step(step_name)
    event = _event_type(step)
    if event is None:
        raise ValueError(f"step {step_name} of {defn.product} waits for no report")
    body: dict[str, Any] = {
        "event_id": event_id or f"{batch_id}:{step_name}:1",
        "batch_id": batch_id,
        "step": step_name,
        "type": event,
        "occurred_at": _AT.isoformat().replace("+00:00", "Z"),
    }
    records = step.records if isinstance(step, WaitFor | FollowUp | Series | Task) else ()
    if records:
        results = {}
        for name in records:
            value, unit = _value(name, defn.specification.get(name))
            results[name] = {"value": value, "unit": unit, "method": "validated method"}
        body["results"] = results
    if isinstance(step, Handoff):
        scanned = coi or EXAMPLE_COI
        custody: dict[str, Any] = {
            "from_party": step.from_party,
            "to_party": step.to_party,
            "scanned_coi": scanned,
            "container_label": f"{scanned}-{step.container}",
            "location": step.to_party,
        }
        if step.temperature is not None:
            t = step.temperature
            span = t.max_c - t.min_c
            custody["temperature"] = {
                "min_c": round(t.min_c + span / 4, 1),
                "max_c": round(t.max_c - span / 4, 1),
                "minutes_outside_range": 0,
                "logger_id": "LOGGER-0001",
                "readings": 240,
                "interval_seconds": 60,
            }
        body["custody"] = custody
    return body


def examples_by_type(catalog: dict[str, CompiledDefinition]) -> dict[str, dict[str, Any]]:
    """One example body per event type across `catalog` (the first step that waits for it),
    keyed by type: what the API documentation shows."""
    out: dict[str, dict[str, Any]] = {}
    for defn in catalog.values():
        for step, event in reported_steps(defn):
            out.setdefault(event, example_event(defn, step))
    return dict(sorted(out.items()))
