"""What the batch page shows beyond the record itself: hold clocks, results against the
specification, and the decisions the reader may make."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from workflows.authority import TargetKind, open_decisions
from workflows.definition import CompiledDefinition
from workflows.language import Hold
from workflows.model import BatchRecord, DeviationKind, Role, StepState


class HoldClock(BaseModel):
    """One hold time of the batch and where it stands."""

    model_config = ConfigDict(frozen=True)

    name: str
    start: str
    end: str
    limit: str
    state: str
    css: str = ""


class SpecRow(BaseModel):
    """One line of the release specification with the batch's result."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: str
    limit: str
    verdict: str
    css: str = ""
    reporter: str = ""


class DecisionLink(BaseModel):
    """A decision the reader may open on the batch page."""

    model_config = ConfigDict(frozen=True)

    target: str
    label: str


def value_text(value: float | str, unit: str = "") -> str:
    """A result as a reviewer reads it: four significant digits, then the unit."""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}".strip()


def duration(d: timedelta) -> str:
    """A duration as a person reads it: '2 d 3 h', '45 min'."""
    minutes = int(abs(d).total_seconds() // 60)
    days, rem = divmod(minutes, 24 * 60)
    hours, mins = divmod(rem, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def _done_at(rec: BatchRecord, step: str) -> datetime | None:
    ends = [s.ended_at for s in rec.steps if s.step == step and s.state == StepState.DONE]
    return max((e for e in ends if e is not None), default=None)


def hold_clocks(
    defn: CompiledDefinition | None, rec: BatchRecord, now: datetime
) -> list[HoldClock]:
    """Every hold of the definition: not started, running (time left), met or breached."""
    if defn is None:
        return []
    clocks = []
    breached = {d.step for d in rec.deviations if d.kind == DeviationKind.HOLD_BREACHED}
    closed = rec.completed or rec.abandoned_reason is not None
    for _, step in defn.steps():
        if not isinstance(step, Hold):
            continue
        started, ended = _done_at(rec, step.start), _done_at(rec, step.end)
        state, css = "not started", ""
        if started is not None and ended is not None and ended >= started:
            took = ended - started
            ok = took <= step.max and step.name not in breached
            state, css = (
                (f"met in {duration(took)}", "ok")
                if ok
                else (
                    f"breached: took {duration(took)}",
                    "bad",
                )
            )
        elif step.name in breached:
            state, css = "breached", "bad"
        elif started is not None and closed:
            state = "not reached"
        elif started is not None:
            left = started + step.max - now
            state, css = (
                (f"running: {duration(left)} left", "")
                if left >= timedelta(0)
                else (f"breached: {duration(left)} overdue", "bad")
            )
        clocks.append(
            HoldClock(
                name=step.name,
                start=step.start,
                end=step.end,
                limit=duration(step.max),
                state=state,
                css=css,
            )
        )
    return clocks


def spec_rows(defn: CompiledDefinition | None, rec: BatchRecord) -> list[SpecRow]:
    """The specification line by line with the recorded result, then results without a limit."""
    rows = []
    spec = defn.specification if defn is not None else {}
    for name, limit in spec.items():
        r = rec.results.get(name)
        if r is None:
            rows.append(SpecRow(name=name, value="pending", limit=limit.describe(), verdict="-"))
            continue
        text, css = ("-", "")
        if r.in_specification is not None:
            text, css = ("in specification", "ok") if r.in_specification else ("OOS", "bad")
        rows.append(
            SpecRow(
                name=name,
                value=value_text(r.value, r.unit),
                limit=limit.describe(),
                verdict=text,
                css=css,
                reporter=r.reporter,
            )
        )
    for name, r in rec.results.items():
        if name not in spec:
            rows.append(
                SpecRow(
                    name=name,
                    value=value_text(r.value, r.unit),
                    limit=r.limit or "",
                    verdict="recorded",
                    reporter=r.reporter,
                )
            )
    return rows


def decision_links(
    defn: CompiledDefinition | None,
    rec: BatchRecord,
    *,
    awaiting_gates: Collection[str],
    roles: tuple[Role, ...],
    user_id: str | None,
) -> list[DecisionLink]:
    """The decisions `user_id`, holding `roles`, may make on this batch now
    (`workflows.authority.open_decisions`): waiting gates, open deviations, withdrawal."""
    links = []
    found = open_decisions(defn, rec, awaiting_gates=awaiting_gates, roles=roles, user_id=user_id)
    for auth in found:
        if auth.kind == TargetKind.GATE:
            label = f"Decide {auth.target}: {auth.meaning}"
        elif auth.kind == TargetKind.DEVIATION:
            label = f"Dispose of {auth.target}"
        else:
            label = "Withdraw the batch (abandon)"
        links.append(DecisionLink(target=auth.target, label=label))
    return links
