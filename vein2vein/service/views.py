"""What the batch page shows beyond the record itself: its hold clocks (as the engine
published them; nothing here computes a clock), results against the specification, and the
decisions the reader may make. What it awaits and its other clocks are the board's cells
(`vein2vein.service.board`)."""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel, ConfigDict

from vein2vein.readable import duration, quantity, remaining, when
from vein2vein.service.board import Risk, risk_of
from workflows.authority import QA_ROLES, TargetKind
from workflows.definition import CompiledDefinition
from workflows.language import Hold
from workflows.model import BatchRecord, Clock, ClockKind, Role
from workflows.offers import open_decisions


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


def _running(clock: Clock, tz: str | None) -> tuple[str, str]:
    if clock.remaining is None:  # a record not read from its workflow
        return f"running until {when(clock.limit, tz)}", ""
    risk = risk_of(clock)
    css = f"bad risk-{risk}" if risk == Risk.OVERDUE else f"risk-{risk}"
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


def hold_clocks(
    defn: CompiledDefinition | None, rec: BatchRecord, tz: str | None = None
) -> list[HoldClock]:
    """Every hold as the engine's clocks show it: running (`rec.clocks`, with the remaining
    time the engine published), met or breached (`rec.stopped_clocks`), or not started.
    The definition only names the holds (and those a record shows without one are added);
    a moment prints in zone `tz`."""
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
            state, css = _running(running[name], tz)
        elif name in stopped:
            state, css = _stopped(stopped[name])
        else:
            state, css = ("not run" if closed else "not started"), ""
        clocks.append(HoldClock(name=name, start=start, end=end, limit=limit, state=state, css=css))
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
                value=quantity(r.value, r.unit),
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
                    value=quantity(r.value, r.unit),
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
    (`workflows.offers.open_decisions`): waiting gates, open deviations, a due record
    review, withdrawal."""
    links = []
    found = open_decisions(defn, rec, awaiting_gates=awaiting_gates, roles=roles, user_id=user_id)
    for auth in found:
        if auth.kind == TargetKind.GATE:
            label = f"Decide {auth.target}: {auth.meaning}"
        elif auth.kind == TargetKind.DEVIATION and not set(roles) & QA_ROLES:
            label = f"Request exceptional release of {auth.target}"
        elif auth.kind == TargetKind.DEVIATION:
            label = f"Dispose of {auth.target}"
        elif auth.kind == TargetKind.RECORD:
            label = "Review the batch record (due before release)"
        else:
            label = "Withdraw the batch (abandon)"
        links.append(DecisionLink(target=auth.target, label=label))
    return links
