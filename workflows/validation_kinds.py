"""The rules of the step kinds that shape a process's flow and timing: where an end and a
follow-up may stand, a series' schedule, an interval's bounds, a branch's outcomes and a
computation's code and inputs. Mixed into `workflows.validation.Validator`."""

from __future__ import annotations

from datetime import timedelta

from workflows.definition import CompiledDefinition
from workflows.functions import ORDER_INPUTS, registered
from workflows.language import (
    Branch,
    Compute,
    End,
    FollowUp,
    Hold,
    Parallel,
    Repeat,
    Series,
    Step,
    children,
)


class KindRules:
    """Rules of branch, end, compute, series, intervals and where nested steps may stand."""

    defn: CompiledDefinition

    def fail(self, step: str, rule: str, message: str) -> None:
        """Record one broken rule (the validator's)."""
        raise NotImplementedError

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
