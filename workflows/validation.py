"""The rules a definition must keep, checked when it is compiled (`process`) and by
`vein2vein definitions validate`. Each broken rule is a `Violation` naming product, step and
rule, with what to do about it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from itertools import pairwise

from workflows.catalog import KNOWN_ACTIVITIES, PARAMETERS
from workflows.definition import (
    MAX_ATTEMPTS,
    PRODUCT_PATTERN,
    CompiledDefinition,
    Violation,
    judged_results,
    recorded_results,
    walk,
)
from workflows.language import (
    SYSTEM,
    Branch,
    Call,
    Compute,
    Decide,
    End,
    FollowUp,
    Gate,
    Handoff,
    Hold,
    Parallel,
    Repeat,
    Series,
    Step,
    WaitFor,
)
from workflows.review import RECORD_REVIEW
from workflows.slots import parse_chain
from workflows.validation_kinds import KindRules


class Validator(KindRules):
    """Checks every rule of the language over one compiled definition."""

    def __init__(self, defn: CompiledDefinition, known: frozenset[str] | None) -> None:
        self.defn = defn
        own = frozenset(a.name for a in defn.activities or ())
        self.known = (KNOWN_ACTIVITIES if known is None else known) | own
        self.out: list[Violation] = []

    def fail(self, step: str, rule: str, message: str) -> None:
        self.out.append(Violation(product=self.defn.product, step=step, rule=rule, message=message))

    def run(self) -> list[Violation]:
        import re

        if not re.match(PRODUCT_PATTERN, self.defn.product):
            self.fail("-", "bad product name", f"must match {PRODUCT_PATTERN}")
        if not self.defn.stages:
            self.fail("-", "empty process", "a process needs at least one stage")
        self.check_parties_and_options()
        self.check_activities()
        order: list[str] = []
        seen: set[str] = set()
        for stage_name, step in self.defn.steps():
            if step.name in seen:
                self.fail(step.name, "duplicate step name", "step names must be unique")
            if step.name == RECORD_REVIEW:
                self.fail(step.name, "reserved name", "a record review is signed under this name")
            seen.add(step.name)
            order.append(step.name)
            self.check_step(stage_name, step)
        self.check_references(order)
        self.check_reworks()
        for st in self.defn.stages:
            self.check_list(st.steps, nested_in=None, owner=None)
        return self.out

    def check_call(self, step: str, what: str, c: Call) -> None:
        if c.policy.timeout is None or c.policy.timeout <= timedelta(0):
            self.fail(step, "no timeout", f"{what} '{c.activity}' needs a positive timeout")
        attempts = c.policy.attempts
        if attempts is None or attempts < 1 or attempts > MAX_ATTEMPTS:
            self.fail(
                step,
                "unbounded retries",
                f"{what} '{c.activity}' needs 1..{MAX_ATTEMPTS} attempts, got {attempts}",
            )
        if c.activity not in self.known:
            self.fail(
                step,
                "unknown activity",
                f"{what} '{c.activity}' is neither the framework's (workflows.catalog) nor "
                "declared by the product (process(activities=...))",
            )
        self.check_params(step, what, c)
        parties = self.defn.party_kinds()
        if c.site != SYSTEM and c.site not in parties:
            self.fail(
                step,
                "unknown party",
                f"{what} '{c.activity}' is addressed to '{c.site}', which is not a party of "
                f"the product (parties: {', '.join(parties)}; or '{SYSTEM}')",
            )
        self.check_chain(step, what, c, parties)

    def check_chain(self, step: str, what: str, c: Call, parties: Mapping[str, object]) -> None:
        """Every leg of a slot chain is at a party of the product."""
        text = c.params.get("chain")
        if text is None or not isinstance(text, str):
            return
        try:
            legs = parse_chain(text)
        except ValueError:
            return  # check_params has said why
        for lg in legs:
            if lg.party not in parties:
                self.fail(
                    step,
                    "unknown party",
                    f"{what} '{c.activity}': slot chain leg '{lg.name}' is at '{lg.party}', "
                    f"which is not a party of the product (parties: {', '.join(parties)})",
                )

    def check_params(self, step: str, what: str, c: Call) -> None:
        own = {a.name: a.params for a in self.defn.activities or ()}
        specs = own.get(c.activity, PARAMETERS)
        for name, value in c.params.items():
            spec = specs.get(name)
            if spec is None:
                self.fail(
                    step,
                    "unknown parameter",
                    f"{what} '{c.activity}' takes no parameter '{name}'",
                )
            elif (problem := spec.problem(value)) is not None:
                self.fail(
                    step,
                    "bad parameter",
                    f"{what} '{c.activity}': '{name}' must be {problem}, not {value!r}",
                )

    def check_activities(self) -> None:
        names = [a.name for a in self.defn.activities or ()]
        for name in dict.fromkeys(names):
            if names.count(name) > 1:
                self.fail("-", "duplicate activity", f"activity '{name}' is declared twice")
            if name in KNOWN_ACTIVITIES:
                self.fail("-", "duplicate activity", f"'{name}' is already a framework activity")

    def check_parties_and_options(self) -> None:
        names = [p.name for p in self.defn.parties or ()]
        for name in {n for n in names if names.count(n) > 1}:
            self.fail("-", "duplicate party", f"party '{name}' is declared twice")
        if SYSTEM in names:
            self.fail("-", "reserved party name", f"'{SYSTEM}' means vein2vein itself")
        if self.defn.parties is not None and not names:
            self.fail("-", "no parties", "declare at least one party, or leave parties out")
        seen: set[str] = set()
        for o in self.defn.options or ():
            if o.name in seen:
                self.fail("-", "duplicate option", f"option '{o.name}' is declared twice")
            seen.add(o.name)
            if len(o.choices) < 2 or len(set(o.choices)) != len(o.choices):
                self.fail(
                    "-", "bad option", f"option '{o.name}' needs two or more distinct choices"
                )
            if o.default is not None and o.default not in o.choices:
                self.fail(
                    "-", "bad option", f"option '{o.name}': default '{o.default}' is not a choice"
                )

    def check_step(self, stage_name: str, step: Step) -> None:
        for what, c in (
            ("activity", getattr(step, "call", None)),
            ("ask", getattr(step, "ask", None)),
            ("compensation", getattr(step, "compensation", None)),
            ("on_reschedule", getattr(step, "on_reschedule", None)),
        ):
            if c is not None:
                self.check_call(step.name, what, c)
        for result in recorded_results(step):
            if result not in self.defn.specification:
                self.fail(
                    step.name,
                    "result without specification",
                    f"records '{result}', which has no specification line to judge it by",
                )
        if isinstance(step, WaitFor | Handoff) and (
            step.deadline is None or step.deadline <= timedelta(0)
        ):
            self.fail(step.name, "no timeout", "a wait needs a positive deadline")
        if isinstance(step, Gate):
            if not step.roles:
                self.fail(step.name, "gate without a role", "name the roles that may decide")
            if not step.meaning.strip():
                self.fail(step.name, "gate without meaning", "say what the signature means")
            if step.record_review and not step.release:
                self.fail(
                    step.name,
                    "record review off release",
                    "record_review= holds a release; this gate releases nothing",
                )
        if isinstance(step, FollowUp):
            if not step.visits or list(step.visits) != sorted(step.visits):
                self.fail(step.name, "bad schedule", "visits must be given in ascending order")
            if step.window <= timedelta(0):
                self.fail(step.name, "no timeout", "a follow-up needs a positive visit window")
            elif any(b - a <= step.window * 2 for a, b in pairwise(step.visits)):
                self.fail(step.name, "bad schedule", "visits closer than two windows overlap")
        if isinstance(step, Hold):
            self.check_interval(step)
        if isinstance(step, Series):
            self.check_series(step)
        if isinstance(step, Repeat) and step.max_times < 1:
            self.fail(step.name, "unreachable step", "a repeat of max_times < 1 never runs")
        if isinstance(step, Repeat | Parallel) and not step.steps:
            self.fail(step.name, "unreachable step", f"an empty {step.kind} has nothing to run")
        for result in judged_results(step):
            if result not in self.defn.specification:
                self.fail(step.name, "result without specification", f"'{result}' has no limit")

    def check_specification(self, produced: dict[str, int], position: dict[str, int]) -> None:
        """Every specification line is recorded by some step; in a releasing product, before
        the first release gate, so that the release decision can judge all of it."""
        releases = [
            position[s.name] for _, s in self.defn.steps() if isinstance(s, Gate) and s.release
        ]
        observed = self.defn.observations()
        for name in self.defn.specification:
            if name not in produced:
                self.fail(
                    "-",
                    "specification line never recorded",
                    f"'{name}' is in the specification but no step records it "
                    "(a task's or wait's records=)",
                )
            elif releases and produced[name] > min(releases) and name not in observed:
                self.fail(
                    "-",
                    "specification not judged before release",
                    f"'{name}' is first recorded after the release gate, which must judge it",
                )

    def check_references(self, order: list[str]) -> None:
        position = {name: i for i, name in enumerate(order)}
        produced: dict[str, int] = {}
        for _, step in self.defn.steps():
            for r in recorded_results(step):
                produced.setdefault(r, position[step.name])
        self.check_specification(produced, position)
        for _, step in self.defn.steps():
            here = position[step.name]
            if isinstance(step, Branch):
                self.check_branch(step, produced, here)
            if isinstance(step, Compute):
                self.check_compute(step, produced, here)
            if isinstance(step, Hold):
                for end, event in (("start", step.start), ("end", step.end)):
                    if event not in position:
                        self.fail(
                            step.name,
                            "hold names an event that never happens",
                            f"{end} '{event}' is not a step of this process",
                        )
                if step.start in position and position[step.start] > here:
                    self.fail(
                        step.name,
                        "hold names an event that never happens",
                        f"start '{step.start}' comes after the hold; place the hold after it",
                    )
                if step.end in position and position[step.end] < here:
                    self.fail(
                        step.name,
                        "hold names an event that never happens",
                        f"end '{step.end}' comes before the hold starts",
                    )
            if isinstance(step, Gate):
                for need in step.requires:
                    earlier_step = need in position and position[need] < here
                    earlier_result = need in produced and produced[need] < here
                    if not (earlier_step or earlier_result):
                        self.fail(
                            step.name,
                            "unreachable step",
                            f"requires '{need}', which no earlier step does or records; "
                            "the gate could never open",
                        )
            if isinstance(step, Repeat) and not any(
                step.until in recorded_results(s) for _, s in walk("", step)
            ):
                self.fail(
                    step.name,
                    "unreachable step",
                    f"repeats until '{step.until}', which no step inside it records",
                )
            for result in step.results if isinstance(step, Decide) else ():
                if result not in produced or produced[result] > here:
                    self.fail(
                        step.name,
                        "unreachable step",
                        f"judges '{result}', which no earlier step records",
                    )

    def check_reworks(self) -> None:
        """A rework goes from a step that may deviate back to a top-level step at or before the
        one containing it, never from inside a parallel group (its siblings would still be
        running) and never after release (a released batch is not reprocessed)."""
        top = {
            s.name: (si, pi)
            for si, st in enumerate(self.defn.stages)
            for pi, s in enumerate(st.steps)
        }
        in_parallel = {
            inner.name
            for _, s in self.defn.steps()
            if isinstance(s, Parallel)
            for child in s.steps
            for _, inner in walk("", child)
        }
        releases = [
            self.defn.top_level_position(s.name)
            for _, s in self.defn.steps()
            if isinstance(s, Gate) and s.release
        ]
        for rw in self.defn.reworks or ():
            try:
                at = self.defn.step(rw.at)
            except KeyError:
                self.fail(rw.at, "unknown rework step", "rework(at=...) names no step")
                continue
            where = self.defn.top_level_position(rw.at)
            if isinstance(at, Hold | End):
                self.fail(rw.at, "rework of a step that never deviates", f"a {at.kind} step")
            elif rw.at in in_parallel:
                self.fail(
                    rw.at,
                    "rework inside a parallel",
                    "its siblings would still be running; rework the parallel group instead",
                )
            elif releases and where >= min(releases):
                self.fail(rw.at, "rework after release", "a released batch is not reprocessed")
            back = top.get(rw.back_to)
            if back is None:
                self.fail(
                    rw.at, "rework to an unknown step", f"'{rw.back_to}' is not a top-level step"
                )
            elif back > where:
                self.fail(
                    rw.at,
                    "rework forward",
                    f"'{rw.back_to}' comes after '{rw.at}'; a rework goes back",
                )
