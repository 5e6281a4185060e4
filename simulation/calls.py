"""The simulated outside world answering a step's call, and the wait for its report.

Mirrors `workflows.engine.calls` over `activities.simulated.SimulatedWorld`: a technical
fault fails attempts until the call's retry policy is spent (then the step fails for a
person); a refused booking or allocation is a business failure; a report comes after the
operation's duration (plus a courier's delay) unless it never comes, and a report later than
the step's deadline is a missed deadline.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from simulation.batch import SimBatch
from simulation.capacity import NoCapacity, OutOfStock
from workflows.engine.errors import ANY_TECHNICAL, RETRY_OR_ABANDON, StepFailed
from workflows.language import Call, param_text
from workflows.model import DeviationKind, TemperatureSummary

_PARAMS: dict[int, dict[str, str]] = {}

#: The simulated loggers' bands and excursions, by shipping condition (`SimulatedWorld`).
_BAND = {"frozen": (-160.0, -152.0), "2-8C": (3.2, 6.9)}
_PEAK = {"frozen": (-60.0, 95.0), "2-8C": (14.5, 80.0)}
_NEVER = {"frozen": (-80.0, -70.0), "2-8C": (12.0, 14.0)}
_SUMMARIES: dict[tuple[str, str, int], TemperatureSummary] = {}


def params(call: Call) -> dict[str, str]:
    """The call's parameters as text (as an activity receives them)."""
    found = _PARAMS.get(id(call))
    if found is None:
        found = _PARAMS[id(call)] = {k: param_text(v) for k, v in call.params.items()}
    return found


@dataclass
class Report:
    """What the outside world reported for a step."""

    results: dict[str, tuple[float | str, str]] = field(default_factory=dict)
    temperature: TemperatureSummary | None = None
    identity_ok: bool = True
    lots: list[str] = field(default_factory=list)


def operation(call: Call) -> str:
    """What the durations table knows the call's work by: its operation, or its activity."""
    return params(call).get("operation", call.activity)


def call_step(b: SimBatch, call: Call, step: str) -> dict[str, str]:
    """Perform `call` for `step`: retries within its policy, then its effect on the network."""
    world = b.network.world
    attempts = call.policy.attempts or 1
    failed = 0
    while failed < attempts and world.fault(b.fired, "flaky", step, call.activity):
        failed += 1
    if failed == attempts:
        raise StepFailed(
            DeviationKind.RETRIES_EXHAUSTED,
            f"{call.activity} failed after its retry policy: simulated outage",
            ANY_TECHNICAL,
        )
    try:
        return effect(b, call, step)
    except (NoCapacity, OutOfStock) as refusal:
        raise StepFailed(
            DeviationKind.STEP_FAILED, f"{call.activity}: {refusal}", RETRY_OR_ABANDON
        ) from refusal


def effect(b: SimBatch, call: Call, step: str) -> dict[str, str]:
    """What the call does to the network: slots, doses, lots and the COI."""
    net, p, rec = b.network, params(call), b.rec
    act = call.activity
    if act == "allocate_coi":
        rec.coi = rec.coi or f"V2V{b.batch_id}"
    elif act == "book_slot":
        if net.world.fault(b.fired, "no_capacity", step, act):
            raise NoCapacity(f"no manufacturing slot at {rec.sites.get(call.site, '')}")
        net.book_slot(b, rec.sites.get(call.site, ""), p)
    elif act == "release_slot":
        net.calendar.release(b.batch_id, net.env.now)
    elif act == "allocate_lots":
        rec.lots.extend(m for m in p.get("materials", "").split(",") if m)
    elif act == "allocate_doses":
        source = p.get("count_from")
        count = int(float(rec.results[source].value)) if source else int(p.get("count", "1"))
        rec.lots.extend(net.inventory.allocate(p["inventory"], b.batch_id, count))
    elif act == "return_doses":
        net.inventory.give_back(b.batch_id)
    elif act == "release_to_inventory":
        net.inventory.add(p["inventory"], rec.coi or b.batch_id, int(p.get("doses", "1")))
    return p


def ask_and_wait(
    b: SimBatch,
    step: str,
    event_type: str,
    ask: Call | None,
    deadline_h: float,
    *,
    records: tuple[str, ...] = (),
) -> Generator[simpy.Event, Any, Report]:
    """Ask (optional), then wait for the report until the deadline (`calls.ask_and_wait`)."""
    env, world = b.env, b.network.world
    activity = ask.activity if ask is not None else ""
    if ask is not None:
        call_step(b, ask, step)
    silent = world.fault(b.fired, "silent", step, activity)
    delay = world.hours(operation(ask) if ask is not None else event_type)
    late = world.fault(b.fired, "courier_delay", step, activity)
    if late is not None:
        delay += late.delay.total_seconds() / 3600
    if silent is not None or delay > deadline_h:
        yield env.timeout(deadline_h)
        raise StepFailed(
            DeviationKind.DEADLINE_MISSED,
            f"no '{event_type}' report within {deadline_h:g} h",
            RETRY_OR_ABANDON,
        )
    report = Report()
    failed_collection = event_type == "collection.completed" and bool(
        world.fault(b.fired, "failed_collection", step, activity)
    )
    if event_type == "custody" and ask is not None:
        report.identity_ok = not world.fault(b.fired, "label_mismatch", step, activity)
        report.temperature = _temperature(b, step, ask)
    for name in records:
        oos = world.fault(b.fired, "oos", step, activity, result=name)
        low = name == "cd3_cells" and failed_collection
        report.results[name] = world.value(name, failing=bool(oos or low))
    if ask is not None and (consumes := params(ask).get("consumes")):
        report.lots = [m for m in consumes.split(",") if m]
    yield env.timeout(delay)
    return report


def _temperature(b: SimBatch, step: str, ask: Call) -> TemperatureSummary | None:
    """The logger's summary for the leg, as the simulated courier's readings summarise."""
    world = b.network.world
    activity = ask.activity
    if world.fault(b.fired, "no_temperature_summary", step, activity):
        return None
    condition = "frozen" if params(ask).get("condition") == "frozen" else "2-8C"
    readings = max(
        60, round(world.durations.get(operation(ask), world.durations["default"]).mean_h * 60)
    )
    if world.fault(b.fired, "never_in_range", step, activity):
        return _summary(condition, "never", readings)
    if world.fault(b.fired, "temperature_excursion", step, activity):
        return _summary(condition, "excursion", readings)
    return _summary(condition, "nominal", readings)


def _summary(condition: str, how: str, readings: int) -> TemperatureSummary:
    key = (condition, how, readings)
    found = _SUMMARIES.get(key)
    if found is None:
        lo, hi = _BAND[condition]
        outside = 0.0
        if how == "excursion":
            peak, outside = _PEAK[condition]
            hi = max(hi, peak)
            readings = max(readings, int(outside))
        elif how == "never":
            lo, hi = _NEVER[condition]
            outside = 4.0
        found = _SUMMARIES[key] = TemperatureSummary(
            min_c=lo,
            max_c=hi,
            minutes_outside_range=outside,
            logger_id="SIM-LOGGER",
            readings=readings,
            interval_seconds=60.0,
        )
    return found
