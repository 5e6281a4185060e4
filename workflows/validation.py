"""The rules a definition must keep, checked when it is compiled (`process`) and by
`vein2vein definitions validate`. Each broken rule is a `Violation` naming product, step and
rule, with what to do about it."""

from __future__ import annotations

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
from workflows.functions import ORDER_INPUTS, registered
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
    children,
)


class Validator:
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
            seen.add(step.name)
            order.append(step.name)
            self.check_step(stage_name, step)
        self.check_references(order)
        for st in self.defn.stages:
            self.check_list(st.steps, nested_in=None, owner=None)
        return self.out

    def check_list(
        self, steps: tuple[Step, ...], nested_in: Step | None, owner: Step | None
    ) -> None:
        """Where ends and follow-ups may stand: an end last in its list and never inside a
        parallel or a repeat; a follow-up (which continues as new at its place in the
        stage) only at the top of a stage."""
        for i, step in enumerate(steps):
            if isinstance(step, End) and i < len(steps) - 1 and not isinstance(owner, Parallel):
                self.fail(
                    steps[i + 1].name,
                    "unreachable step",
                    f"it follows end '{step.name}', after which nothing runs",
                )
            if isinstance(step, End) and isinstance(nested_in, Parallel | Repeat):
                self.fail(
                    step.name,
                    "end inside a group",
                    f"an end cannot stand inside {nested_in.kind} '{nested_in.name}'; "
                    "place it in a stage or in a branch's case",
                )
            if isinstance(step, FollowUp) and nested_in is not None:
                self.fail(
                    step.name,
                    "nested follow-up",
                    f"a follow-up must stand at the top of a stage, not inside "
                    f"{nested_in.kind} '{nested_in.name}'",
                )
            inner = step.step_lists() if isinstance(step, Branch) else [children(step)]
            # The outermost group decides: an end in a branch inside a repeat is in a group.
            group = nested_in if isinstance(nested_in, Parallel | Repeat) else step
            for steps_inside in inner:
                self.check_list(steps_inside, nested_in=group, owner=step)

    def check_series(self, step: Series) -> None:
        if step.count < 1:
            self.fail(step.name, "unreachable step", "a series of count < 1 never runs")
        if step.window <= timedelta(0) or step.every <= timedelta(0):
            self.fail(step.name, "no timeout", "a series needs a positive spacing and window")
        elif step.count > 1 and step.window > step.every:
            self.fail(
                step.name,
                "bad schedule",
                f"each occurrence's window ({step.window}) must end before the next is due "
                f"(every {step.every})",
            )

    def check_interval(self, step: Hold) -> None:
        if step.max is None and step.min is None:
            self.fail(step.name, "no timeout", "a hold needs a maximum, a minimum or both")
        if step.max is not None and step.max <= timedelta(0):
            self.fail(step.name, "no timeout", "a hold needs a positive maximum")
        if step.min is not None and step.min <= timedelta(0):
            self.fail(step.name, "bad interval", "a minimum must be positive")
        if step.min is not None and step.max is not None and step.min >= step.max:
            self.fail(
                step.name,
                "bad interval",
                f"the minimum {step.min} is not below the maximum {step.max}",
            )

    def check_branch(self, step: Branch, produced: dict[str, int], here: int) -> None:
        """A branch's outcome is known before it runs, and every outcome has a case."""
        if not step.cases:
            self.fail(step.name, "branch without cases", "give at least one case")
        if step.by == "option":
            offered = {o.name: o for o in self.defn.options or ()}
            if step.on not in offered:
                self.fail(
                    step.name,
                    "unknown option",
                    f"branches on option '{step.on}', which the product does not declare",
                )
                return
            outcomes: tuple[str, ...] = offered[step.on].choices
        else:
            limit = self.defn.specification.get(step.on)
            if step.on not in produced or produced[step.on] > here:
                self.fail(
                    step.name,
                    "unreachable step",
                    f"branches on result '{step.on}', which no earlier step records",
                )
            if limit is None:
                return
            if not limit.allowed:
                self.fail(
                    step.name,
                    "branch on a numeric result",
                    f"'{step.on}' is numeric; branch on a qualitative result (its specification "
                    "lists the values), e.g. one a compute step derives",
                )
                return
            outcomes = limit.allowed
        for case in step.cases:
            if case not in outcomes:
                self.fail(
                    step.name,
                    "unknown case",
                    f"'{case}' is not an outcome of {step.by} '{step.on}' ({', '.join(outcomes)})",
                )
        missing = [o for o in outcomes if o not in step.cases]
        if missing and step.otherwise is None:
            self.fail(
                step.name,
                "outcome not covered",
                f"no case for {', '.join(missing)}; add cases or `otherwise`",
            )

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

    def check_compute(self, step: Compute, produced: dict[str, int], here: int) -> None:
        """A computation is registered with the code the definition pins, reads what is
        known by then, and records what it computes."""
        c = registered(step.function)
        if c is None:
            self.fail(step.name, "unknown function", f"'{step.function}' is not registered")
        elif c.source_sha256 != step.function_sha256:
            self.fail(
                step.name,
                "function changed",
                f"'{step.function}' is registered with other code than the definition pins",
            )
        elif set(step.records) != set(c.outputs):
            self.fail(step.name, "bad computation", f"records must be {list(c.outputs)}")
        options = {o.name for o in self.defn.options or ()}
        defaults = c.defaults if c is not None else {}
        for name in step.inputs:
            known = name in ORDER_INPUTS or name in options or name in defaults
            if not known and (name not in produced or produced[name] >= here):
                self.fail(
                    step.name,
                    "unreachable step",
                    f"reads '{name}', which is neither recorded by an earlier step, an option, "
                    f"nor an order field ({', '.join(ORDER_INPUTS)})",
                )

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
