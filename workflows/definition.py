"""Compiling a process into a frozen, validated, hashed definition.

`process(...)` is what a definition module calls at import. It validates the whole process and
raises `DefinitionError` listing every rule broken (each naming product, step and rule), or
returns a `CompiledDefinition`: plain frozen data with a content hash, which travels in each
batch's start input so the batch stays pinned to the definition it started with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field

from workflows.language import (
    Call,
    Decide,
    FollowUp,
    Gate,
    Handoff,
    Hold,
    Limit,
    Parallel,
    Repeat,
    Stage,
    Step,
    Task,
    WaitFor,
)

#: Upper bound on attempts per activity call; more than this is an unbounded retry in disguise.
MAX_ATTEMPTS = 50
#: Product names become Temporal workflow type names.
PRODUCT_PATTERN = r"^[a-z][a-z0-9-]{2,62}$"


class Violation(BaseModel):
    """One broken rule: which product, which step, which rule, and what to do."""

    model_config = ConfigDict(frozen=True)

    product: str
    step: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.product}: step '{self.step}': {self.rule}: {self.message}"


class DefinitionError(ValueError):
    """A definition broke one or more rules; `violations` lists each of them."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__("invalid definition:\n  " + "\n  ".join(str(v) for v in violations))


class CompiledDefinition(BaseModel):
    """A validated process, frozen, with the hash of its content."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product: str = Field(pattern=PRODUCT_PATTERN)
    version: str
    title: str
    description: str = ""
    specification: dict[str, Limit]
    stages: tuple[Stage, ...]
    content_hash: str = ""

    def steps(self) -> Iterator[tuple[str, Step]]:
        """Every step with its stage name, nested steps included, in process order."""
        for st in self.stages:
            for step in st.steps:
                yield from _walk(st.name, step)

    def step(self, name: str) -> Step:
        """The step called `name`; KeyError if there is none."""
        for _, step in self.steps():
            if step.name == name:
                return step
        raise KeyError(name)

    def judged_later(self) -> frozenset[str]:
        """Results a decide step or a repeat judges; every other specified result is judged by
        the engine right after the step that records it."""
        return frozenset(r for _, step in self.steps() for r in _judged_results(step))


def _walk(stage_name: str, step: Step) -> Iterator[tuple[str, Step]]:
    yield stage_name, step
    if isinstance(step, Parallel | Repeat):
        for inner in step.steps:
            yield from _walk(stage_name, inner)


def _hash(defn: CompiledDefinition) -> str:
    # A field left unset (None) is not content: adding an optional field to the language
    # leaves every existing product's hash, and so its pinned identity, unchanged.
    body = defn.model_dump(mode="json", exclude={"content_hash"}, exclude_none=True)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def process(
    product: str,
    *,
    version: str,
    title: str,
    specification: dict[str, Limit],
    stages: Sequence[Stage],
    description: str = "",
    known_activities: frozenset[str] | None = None,
) -> CompiledDefinition:
    """Compile and validate a process. Raises `DefinitionError` naming every rule broken."""
    draft = CompiledDefinition.model_construct(
        product=product,
        version=version,
        title=title,
        description=description,
        specification=dict(specification),
        stages=tuple(stages),
        content_hash="",
    )
    violations = validate(draft, known_activities=known_activities)
    if violations:
        raise DefinitionError(violations)
    compiled = CompiledDefinition.model_validate(draft.model_dump())
    return compiled.model_copy(update={"content_hash": _hash(compiled)})


def validate(
    defn: CompiledDefinition, *, known_activities: frozenset[str] | None = None
) -> list[Violation]:
    """Every rule `defn` breaks, in process order (empty when it is valid)."""
    return _Validator(defn, known_activities).run()


class _Validator:
    def __init__(self, defn: CompiledDefinition, known: frozenset[str] | None) -> None:
        self.defn = defn
        self.known = known
        self.out: list[Violation] = []

    def fail(self, step: str, rule: str, message: str) -> None:
        self.out.append(Violation(product=self.defn.product, step=step, rule=rule, message=message))

    def run(self) -> list[Violation]:
        import re

        if not re.match(PRODUCT_PATTERN, self.defn.product):
            self.fail("-", "bad product name", f"must match {PRODUCT_PATTERN}")
        if not self.defn.stages:
            self.fail("-", "empty process", "a process needs at least one stage")
        order: list[str] = []
        seen: set[str] = set()
        for stage_name, step in self.defn.steps():
            if step.name in seen:
                self.fail(step.name, "duplicate step name", "step names must be unique")
            seen.add(step.name)
            order.append(step.name)
            self.check_step(stage_name, step)
        self.check_references(order)
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
        if self.known is not None and c.activity not in self.known:
            self.fail(step, "unknown activity", f"{what} '{c.activity}' is not registered")

    def check_step(self, stage_name: str, step: Step) -> None:
        for what, c in (
            ("activity", getattr(step, "call", None)),
            ("ask", getattr(step, "ask", None)),
            ("compensation", getattr(step, "compensation", None)),
            ("on_reschedule", getattr(step, "on_reschedule", None)),
        ):
            if c is not None:
                self.check_call(step.name, what, c)
        for result in _recorded_results(step):
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
        if isinstance(step, Hold) and step.max <= timedelta(0):
            self.fail(step.name, "no timeout", "a hold needs a positive maximum")
        if isinstance(step, Repeat) and step.max_times < 1:
            self.fail(step.name, "unreachable step", "a repeat of max_times < 1 never runs")
        if isinstance(step, Repeat | Parallel) and not step.steps:
            self.fail(step.name, "unreachable step", f"an empty {step.kind} has nothing to run")
        for result in _judged_results(step):
            if result not in self.defn.specification:
                self.fail(step.name, "result without specification", f"'{result}' has no limit")

    def check_specification(self, produced: dict[str, int], position: dict[str, int]) -> None:
        """Every specification line is recorded by some step; in a releasing product, before
        the first release gate, so that the release decision can judge all of it."""
        releases = [
            position[s.name] for _, s in self.defn.steps() if isinstance(s, Gate) and s.release
        ]
        for name in self.defn.specification:
            if name not in produced:
                self.fail(
                    "-",
                    "specification line never recorded",
                    f"'{name}' is in the specification but no step records it "
                    "(a task's or wait's records=)",
                )
            elif releases and produced[name] > min(releases):
                self.fail(
                    "-",
                    "specification not judged before release",
                    f"'{name}' is first recorded after the release gate, which must judge it",
                )

    def check_references(self, order: list[str]) -> None:
        position = {name: i for i, name in enumerate(order)}
        produced: dict[str, int] = {}
        for _, step in self.defn.steps():
            for r in _recorded_results(step):
                produced.setdefault(r, position[step.name])
        self.check_specification(produced, position)
        for _, step in self.defn.steps():
            here = position[step.name]
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
                step.until in _recorded_results(s) for _, s in _walk("", step)
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


def _recorded_results(step: Step) -> tuple[str, ...]:
    if isinstance(step, WaitFor | FollowUp | Task):
        return step.records
    return ()


def _judged_results(step: Step) -> tuple[str, ...]:
    if isinstance(step, Decide):
        return step.results
    if isinstance(step, Repeat):
        return (step.until,)
    return ()


__all__ = [
    "CompiledDefinition",
    "DefinitionError",
    "Violation",
    "process",
    "validate",
]
