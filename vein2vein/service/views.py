"""What the batch page shows beyond the record itself: what the batch awaits, its clocks (as
the engine published them; nothing here computes a clock), results against the
specification, and the decisions the reader may make."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from vein2vein.readable import duration, remaining, when
from workflows.authority import TargetKind, open_decisions
from workflows.definition import CompiledDefinition
from workflows.language import Hold
from workflows.model import BatchRecord, Clock, ClockKind, Role


class HoldClock(BaseModel):
    """One hold time of the batch and where it stands."""

    model_config = ConfigDict(frozen=True)

    name: str
    start: str
    end: str
    limit: str
    state: str
    css: str = ""


class ClockRow(BaseModel):
    """One running clock other than a hold: a deadline, a visit window, the treatment window."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    started: str
    limit: str
    remaining: str
    css: str = ""


class AwaitingRow(BaseModel):
    """One thing the batch waits for: what, since when, until when, and who may decide."""

    model_config = ConfigDict(frozen=True)

    label: str
    kind: str
    since: str
    deadline: str
    roles: str


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


def _running(clock: Clock) -> tuple[str, str]:
    if clock.remaining is None:  # a record not read from its workflow
        return f"running until {when(clock.limit)}", ""
    css = "bad" if clock.remaining < timedelta(0) else ""
    return f"running: {remaining(clock.remaining)}", css


def _stopped(clock: Clock) -> tuple[str, str]:
    took = clock.ended - clock.started if clock.ended and clock.started else None
    if clock.breached:
        return ("breached" if took is None else f"breached: took {duration(took)}"), "bad"
    return ("met" if took is None else f"met in {duration(took)}"), "ok"


def _bounds(h: Hold) -> str:
    """'at most 30 min', 'at least 5 d, at most 9 d'."""
    parts = [f"{word} {duration(v)}" for word, v in (("at least", h.min), ("at most", h.max)) if v]
    return ", ".join(parts)


def hold_clocks(defn: CompiledDefinition | None, rec: BatchRecord) -> list[HoldClock]:
    """Every hold as the engine's clocks show it: running (`rec.clocks`, with the remaining
    time the engine published), met or breached (`rec.stopped_clocks`), or not started.
    The definition only names the holds (and those a record shows without one are added)."""
    running = {c.name: c for c in rec.clocks if c.kind == ClockKind.HOLD}
    stopped = {c.name: c for c in rec.stopped_clocks if c.kind == ClockKind.HOLD}
    holds = [s for _, s in defn.steps() if isinstance(s, Hold)] if defn is not None else []
    rows = [(h.name, h.start, h.end, _bounds(h)) for h in holds]
    named = {h.name for h in holds}
    rows += [(n, "", "", "") for n in dict.fromkeys([*running, *stopped]) if n not in named]
    closed = rec.finished
    clocks = []
    for name, start, end, limit in rows:
        if name in running:
            state, css = _running(running[name])
        elif name in stopped:
            state, css = _stopped(stopped[name])
        else:
            state, css = ("not run" if closed else "not started"), ""
        clocks.append(HoldClock(name=name, start=start, end=end, limit=limit, state=state, css=css))
    return clocks


def other_clocks(rec: BatchRecord) -> list[ClockRow]:
    """The running clocks other than holds: deadlines, visit windows, the treatment window."""
    return [
        ClockRow(
            name=c.name,
            kind=c.kind.value.replace("_", " "),
            started=when(c.started),
            limit=when(c.limit),
            remaining=remaining(c.remaining),
            css="bad" if c.remaining is not None and c.remaining < timedelta(0) else "",
        )
        for c in rec.clocks
        if c.kind != ClockKind.HOLD
    ]


def awaiting_rows(rec: BatchRecord) -> list[AwaitingRow]:
    """What the batch waits for, as the engine published it (`rec.awaiting`)."""
    return [
        AwaitingRow(
            label=a.label(),
            kind=a.kind.value,
            since=when(a.since),
            deadline=when(a.deadline),
            roles=", ".join(r.value for r in a.roles),
        )
        for a in rec.awaiting
    ]


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
