"""The functions a process engineer writes a definition with: one per step kind, plus
`stage` and `call`. Each returns a frozen value of `workflows.language`; policies sit on the
step they govern.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Literal

from pydantic import TypeAdapter

from workflows.functions import Computation
from workflows.language import (
    SYSTEM,
    ActivitySpec,
    Branch,
    Call,
    Compute,
    Decide,
    End,
    FollowUp,
    Gate,
    Handoff,
    Hold,
    Option,
    Parallel,
    ParamSpec,
    ParamValue,
    Party,
    Repeat,
    Rework,
    Series,
    Stage,
    Step,
    Task,
    TemperatureRange,
    WaitFor,
    policy,
)
from workflows.vocabulary import PartyKind, Role


def task(
    name: str,
    call: Call,
    *,
    undo: Call | None = None,
    records: tuple[str, ...] = (),
    description: str = "",
) -> Task:
    """A step that runs one activity, with an optional compensation `undo`.

    `records` names the results the activity computes; each must have a specification line,
    and one out of it stops the batch with a deviation right after this step.
    """
    return Task(name=name, call=call, compensation=undo, records=records, description=description)


def wait_for(
    name: str,
    event: str,
    *,
    ask: Call | None = None,
    deadline: timedelta | None,
    records: tuple[str, ...] = (),
    undo: Call | None = None,
    on_reschedule: Call | None = None,
    infusion: bool = False,
    description: str = "",
) -> WaitFor:
    """Ask (optionally) and wait for `event` to be reported for this step before `deadline`.

    If the outside world reports the step `rescheduled` (with `data.new_date`), the
    `on_reschedule` call runs (e.g. move the slot) and the wait starts again.
    """
    return WaitFor(
        name=name,
        event=event,
        ask=ask,
        deadline=deadline,
        records=records,
        compensation=undo,
        on_reschedule=on_reschedule,
        infusion=infusion,
        description=description,
    )


def follow_up(
    name: str,
    event: str,
    *,
    ask: Call,
    visits: tuple[timedelta, ...],
    window: timedelta,
    records: tuple[str, ...] = (),
    description: str = "",
) -> FollowUp:
    """Visits at each offset in `visits` (from this step's start), each due within `window`."""
    return FollowUp(
        name=name,
        event=event,
        ask=ask,
        visits=visits,
        window=window,
        records=records,
        description=description,
    )


def handoff(
    name: str,
    *,
    from_party: str,
    to_party: str,
    container: str,
    deadline: timedelta | None,
    temperature: TemperatureRange | None = None,
    ask: Call | None = None,
    undo: Call | None = None,
    description: str = "",
) -> Handoff:
    """A custody transfer of `container` that the receiver verifies on arrival."""
    return Handoff(
        name=name,
        from_party=from_party,
        to_party=to_party,
        container=container,
        deadline=deadline,
        temperature=temperature,
        ask=ask,
        compensation=undo,
        description=description,
    )


def gate(
    name: str,
    *,
    roles: tuple[Role, ...],
    meaning: str,
    requires: tuple[str, ...] = (),
    release: bool = False,
    record_review: bool = False,
    description: str = "",
) -> Gate:
    """A signed human decision by one of `roles`, once everything in `requires` exists. A
    `release` gate with `record_review` also waits for QA's signed review of the batch record
    made after its last result, deviation or custody entry."""
    return Gate(
        name=name,
        roles=roles,
        meaning=meaning,
        requires=requires,
        release=release,
        record_review=record_review,
        description=description,
    )


def hold(
    name: str,
    *,
    start: str,
    end: str,
    max: timedelta | None = None,
    min: timedelta | None = None,
    description: str = "",
) -> Hold:
    """Between the end of step `start` and the end of step `end`: at most `max`, at least
    `min` (give one or both). Step `end` waits until `min` has passed before it starts."""
    return Hold(name=name, start=start, end=end, max=max, min=min, description=description)


def decide(
    name: str, results: tuple[str, ...], *, exceptional_release: bool = False, description: str = ""
) -> Decide:
    """Judge `results` against the specification; may allow exceptional release of OOS."""
    return Decide(
        name=name,
        results=results,
        exceptional_release=exceptional_release,
        description=description,
    )


def parallel(name: str, *steps: Step, description: str = "") -> Parallel:
    """Run `steps` at once."""
    return Parallel(name=name, steps=steps, description=description)


def repeat(
    name: str,
    *steps: Step,
    until: str,
    max_times: int,
    on_exhausted: Literal["deviation", "abandon"] = "deviation",
    description: str = "",
) -> Repeat:
    """Run `steps` up to `max_times` until result `until` meets the specification."""
    return Repeat(
        name=name,
        steps=steps,
        until=until,
        max_times=max_times,
        on_exhausted=on_exhausted,
        description=description,
    )


def branch(
    name: str,
    *,
    on_result: str | None = None,
    on_option: str | None = None,
    cases: Mapping[str, Sequence[Step]],
    otherwise: Sequence[Step] | None = None,
    description: str = "",
) -> Branch:
    """Run the steps of one case, chosen by a qualitative result's value (`on_result`; its
    specification lists the values) or by an order option (`on_option`): exactly one."""
    if (on_result is None) == (on_option is None):
        raise ValueError(f"branch '{name}': give exactly one of on_result, on_option")
    return Branch(
        name=name,
        by="result" if on_result is not None else "option",
        on=on_result or on_option or "",
        cases={case: tuple(steps) for case, steps in cases.items()},
        otherwise=tuple(otherwise) if otherwise is not None else None,
        description=description,
    )


def compute(
    name: str, function: Computation, *, records: tuple[str, ...], description: str = ""
) -> Compute:
    """Run a registered product function (`workflows.functions.computation`) in the workflow;
    `records` names its outputs, each judged against the specification."""
    return Compute(
        name=name,
        function=function.name,
        function_sha256=function.source_sha256,
        inputs=function.inputs,
        records=records,
        description=description,
    )


def series(
    name: str,
    event: str,
    *,
    count: int,
    every: timedelta,
    window: timedelta,
    ask: Call | None = None,
    records: tuple[str, ...] = (),
    may_stop: bool = False,
    breach_stops: bool = False,
    description: str = "",
) -> Series:
    """Up to `count` occurrences, one due every `every`, each reported within `window`:
    daily CRS grades, or a dose series that the physician may stop (`may_stop`)."""
    return Series(
        name=name,
        event=event,
        count=count,
        every=every,
        window=window,
        ask=ask,
        records=records,
        may_stop=may_stop,
        breach_stops=breach_stops,
        description=description,
    )


def end(name: str, outcome: str, *, description: str = "") -> End:
    """End the batch here with `outcome` (e.g. "not_eligible"): compensated, not abandoned."""
    return End(name=name, outcome=outcome, description=description)


def stage(name: str, *steps: Step) -> Stage:
    """A stage of the process, its steps in order."""
    return Stage(name=name, steps=steps)


def call(
    activity: str,
    *,
    at: str = SYSTEM,
    timeout: timedelta | None,
    attempts: int | None,
    **params: ParamValue | timedelta,
) -> Call:
    """Call `activity` at the order's site `at`, bounded by `timeout` and `attempts`.
    Parameters are text, numbers, yes/no or durations, checked when the process compiles."""
    values = {
        k: TypeAdapter(timedelta).dump_python(v, mode="json") if isinstance(v, timedelta) else v
        for k, v in params.items()
    }
    return Call(activity=activity, site=at, policy=policy(timeout, attempts), params=values)


def party(name: str, kind: PartyKind | str, *, description: str = "") -> Party:
    """A party of the product: `call(..., at=name)` addresses the site the order names for it."""
    return Party(name=name, kind=PartyKind(kind), description=description)


def option(name: str, *choices: str, default: str | None = None, description: str = "") -> Option:
    """A per-order choice among `choices` (with an optional default), checked at intake."""
    return Option(name=name, choices=choices, default=default, description=description)


def activity(
    name: str, description: str, *, params: Mapping[str, ParamSpec] | None = None
) -> ActivitySpec:
    """An activity the product adds: calls to it go to the site they address, like the
    framework's site activities, and the worker registers it with the product. `params`
    declares the parameters its calls may pass (`param("number")`, ...)."""
    return ActivitySpec(name=name, description=description, params=dict(params or {}))


def param(
    type: Literal["text", "number", "integer", "boolean", "duration", "choice"] = "text",
    *choices: str,
    description: str = "",
) -> ParamSpec:
    """A parameter of a product activity: its type (and, for "choice", the choices)."""
    return ParamSpec(type=type, choices=choices, description=description)


def rework(at: str, *, back_to: str, description: str = "") -> Rework:
    """Declare a reprocessing path: after a deviation at step `at`, QA may send the batch back
    to the earlier top-level step `back_to` (e.g. a failed formulation back to expansion)."""
    return Rework(at=at, back_to=back_to, description=description)
