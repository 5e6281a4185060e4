"""Compiling a process into a frozen, validated, hashed definition.

`process(...)` is what a definition module calls at import. It validates the whole process and
raises `DefinitionError` listing every rule broken (each naming product, step and rule), or
returns a `CompiledDefinition`: plain frozen data with a content hash, which travels in each
batch's start input so the batch stays pinned to the definition it started with.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workflows import content
from workflows.language import (
    CLASSIC_PARTIES,
    ActivitySpec,
    Compute,
    Decide,
    FollowUp,
    Limit,
    Option,
    Party,
    Repeat,
    Rework,
    Series,
    Stage,
    Step,
    Task,
    WaitFor,
    children,
)
from workflows.vocabulary import PartyKind, ProductCategory

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
    parties: tuple[Party, ...] | None = Field(
        default=None, description="The organisations taking part; None: the classic three"
    )
    options: tuple[Option, ...] | None = Field(default=None, description="Per-order choices")
    activities: tuple[ActivitySpec, ...] | None = Field(
        default=None, description="Activities the product adds to the framework's own"
    )
    product_category: ProductCategory | None = Field(
        default=None, description="What the product is made of (FHIR productCategory)"
    )
    reworks: tuple[Rework, ...] | None = Field(
        default=None, description="Where QA may send the batch back to after a deviation"
    )
    content_hash: str = ""

    def party_kinds(self) -> dict[str, PartyKind]:
        """Each party's kind, by party name."""
        return {p.name: p.kind for p in self.parties or CLASSIC_PARTIES}

    def order_problems(self, sites: Mapping[str, str], options: Mapping[str, str]) -> list[str]:
        """What is wrong with an order for this product (a party without a site, an unknown
        party or option, a choice not offered); empty when the order is fine."""
        kinds = self.party_kinds()
        problems = [
            f"no site named for party '{name}' ({kind.value})"
            for name, kind in kinds.items()
            if not sites.get(name)
        ]
        problems += [
            f"'{name}' is not a party of {self.product}" for name in sites if name not in kinds
        ]
        offered = {o.name: o for o in self.options or ()}
        for name, value in options.items():
            opt = offered.get(name)
            if opt is None:
                problems.append(f"'{name}' is not an option of {self.product}")
            elif value not in opt.choices:
                problems.append(
                    f"option '{name}' is one of {', '.join(opt.choices)}, not '{value}'"
                )
        problems += [
            f"option '{o.name}' must be chosen ({', '.join(o.choices)})"
            for o in offered.values()
            if o.default is None and o.name not in options
        ]
        return problems

    def resolved_options(self, options: Mapping[str, str]) -> dict[str, str]:
        """Every option's value for an order: the order's choice, else the default."""
        return {o.name: options.get(o.name, o.default or "") for o in self.options or ()}

    def steps(self) -> Iterator[tuple[str, Step]]:
        """Every step with its stage name, nested steps included, in process order."""
        for st in self.stages:
            for step in st.steps:
                yield from walk(st.name, step)

    def step(self, name: str) -> Step:
        """The step called `name`; KeyError if there is none."""
        for _, step in self.steps():
            if step.name == name:
                return step
        raise KeyError(name)

    def rework_targets(self, step: str) -> tuple[str, ...]:
        """The steps QA may send the batch back to after a deviation at `step`."""
        return tuple(r.back_to for r in self.reworks or () if r.at == step)

    def top_level_position(self, name: str) -> tuple[int, int]:
        """(stage index, step index) of the top-level step containing the step `name`."""
        for si, st in enumerate(self.stages):
            for pi, step in enumerate(st.steps):
                if any(inner.name == name for _, inner in walk(st.name, step)):
                    return si, pi
        raise KeyError(name)

    def observations(self) -> frozenset[str]:
        """Results only a series or a follow-up records: observations of the patient, judged
        as they come, never a condition of release."""
        observed = {
            r for _, s in self.steps() if isinstance(s, Series | FollowUp) for r in s.records
        }
        made = {
            r
            for _, s in self.steps()
            if not isinstance(s, Series | FollowUp)
            for r in recorded_results(s)
        }
        return frozenset(observed - made)

    def release_specification(self) -> dict[str, Limit]:
        """The specification lines a release judges: every one but the observations."""
        observed = self.observations()
        return {n: limit for n, limit in self.specification.items() if n not in observed}

    def judged_later(self) -> frozenset[str]:
        """Results a decide step or a repeat judges; every other specified result is judged by
        the engine right after the step that records it."""
        return frozenset(r for _, step in self.steps() for r in judged_results(step))


def walk(stage_name: str, step: Step) -> Iterator[tuple[str, Step]]:
    yield stage_name, step
    for inner in children(step):
        yield from walk(stage_name, inner)


def _hash(defn: CompiledDefinition) -> str:
    # A field left unset (None), or added to the language and left at its default, is not
    # content: growing the language leaves every existing product's hash unchanged.
    return content.digest(defn, exclude=frozenset({"content_hash"}), drop_none=True)


def process(
    product: str,
    *,
    version: str,
    title: str,
    specification: dict[str, Limit],
    stages: Sequence[Stage],
    description: str = "",
    parties: Sequence[Party] | None = None,
    options: Sequence[Option] | None = None,
    activities: Sequence[ActivitySpec] | None = None,
    product_category: ProductCategory | None = None,
    reworks: Sequence[Rework] | None = None,
    known_activities: frozenset[str] | None = None,
) -> CompiledDefinition:
    """Compile and validate a process. Raises `DefinitionError` naming every rule broken.

    `parties` declares the organisations taking part (default: a treatment centre, a
    manufacturing site and a courier); `options` the choices each order makes; `activities`
    the activities the product adds to the framework's (`workflows.catalog`);
    `product_category` what the product is made of, as its FHIR resources state it; `reworks`
    the reprocessing QA may order after a deviation (`rework(...)`). A call to
    any other activity does not compile (`known_activities` replaces the framework's list)."""
    draft = CompiledDefinition.model_construct(
        product=product,
        version=version,
        title=title,
        description=description,
        specification=dict(specification),
        stages=tuple(stages),
        parties=tuple(parties) if parties is not None else None,
        options=tuple(options) if options is not None else None,
        activities=tuple(activities) if activities is not None else None,
        product_category=product_category,
        reworks=tuple(reworks) if reworks else None,
        content_hash="",
    )
    violations = validate(draft, known_activities=known_activities)
    if violations:
        raise DefinitionError(violations)
    compiled = CompiledDefinition.model_validate(draft.model_dump())
    return compiled.model_copy(update={"content_hash": _hash(compiled)})


def recompiled(defn: CompiledDefinition, **changes: Any) -> CompiledDefinition:
    """`defn` with `changes` (fields of the definition), validated and hashed afresh like
    `process` does; raises `DefinitionError` when the result breaks a rule."""
    draft = CompiledDefinition.model_construct(**{**dict(defn), **changes, "content_hash": ""})
    violations = validate(draft)
    if violations:
        raise DefinitionError(violations)
    compiled = CompiledDefinition.model_validate(draft.model_dump())
    return compiled.model_copy(update={"content_hash": _hash(compiled)})


def validate(
    defn: CompiledDefinition, *, known_activities: frozenset[str] | None = None
) -> list[Violation]:
    """Every rule `defn` breaks, in process order (empty when it is valid)."""
    from workflows.validation import Validator

    return Validator(defn, known_activities).run()


def recorded_results(step: Step) -> tuple[str, ...]:
    if isinstance(step, WaitFor | FollowUp | Task | Compute | Series):
        return step.records
    return ()


def judged_results(step: Step) -> tuple[str, ...]:
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
