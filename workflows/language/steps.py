"""The step kinds of the process language (see `workflows.language`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from workflows import content
from workflows.language.values import (
    NAME_PATTERN,
    Call,
    TemperatureRange,
    _Frozen,
    _without_retired,
)
from workflows.vocabulary import Role


class Task(_Frozen):
    """Run one activity; optionally declare what undoes it on abandonment.

    `records` names the results the activity computes (a dose, a count): they are recorded and
    judged against the specification like any reported result.
    """

    kind: Literal["task"] = "task"
    name: str
    call: Call
    compensation: Call | None = None
    records: tuple[str, ...] = ()
    description: str = ""


class WaitFor(_Frozen):
    """Ask an outside system to act (optional), then wait for its report until a deadline."""

    kind: Literal["wait_for"] = "wait_for"
    name: str
    event: str
    ask: Call | None = None
    deadline: timedelta | None = None
    records: tuple[str, ...] = ()
    compensation: Call | None = None
    on_reschedule: Call | None = None
    infusion: bool = Field(default=False, description="Its report records the infusion")
    description: str = ""


class Handoff(_Frozen):
    """A custody transfer; the receiver's scan is verified against the COI and the label."""

    kind: Literal["handoff"] = "handoff"
    name: str
    from_party: str
    to_party: str
    container: str
    temperature: TemperatureRange | None = None
    ask: Call | None = None
    deadline: timedelta | None = None
    compensation: Call | None = None
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        # Every handoff is verified against the COI and label; there is no opting out.
        return _without_retired(data, {"verify_identity": True})


class Gate(_Frozen):
    """A human decision, signed electronically, by one of `roles`.

    `requires` names steps that must be done and results that must be recorded first; the
    performers of those steps may not sign. A `release` gate's approval releases the batch;
    with `record_review`, only once QA's signed review of the batch record covers everything
    the record holds (`workflows.review`).
    """

    kind: Literal["gate"] = "gate"
    name: str
    roles: tuple[Role, ...]
    meaning: str
    requires: tuple[str, ...] = ()
    release: bool = False
    description: str = ""
    record_review: bool = content.added(False, description="release needs a standing review")


class Hold(_Frozen):
    """The time allowed between the end of step `start` and the end of step `end`: at most
    `max`, at least `min` (an interval, e.g. lymphodepletion 5 to 9 days before infusion).

    Placed right after `start` in the process; from there a durable timer runs in the
    background, and a breach of `max` opens a deviation even if nobody reports anything. With
    `min`, step `end` does not start before `min` has passed, and an `end` that completes
    earlier all the same (an unsolicited report) opens a deviation.
    """

    kind: Literal["hold"] = "hold"
    name: str
    start: str
    end: str
    max: timedelta | None = None
    min: timedelta | None = None
    description: str = ""


class Decide(_Frozen):
    """Judge recorded results against the specification; any failure is an OOS deviation."""

    kind: Literal["decide"] = "decide"
    name: str
    results: tuple[str, ...]
    exceptional_release: bool = False
    description: str = ""


class Parallel(_Frozen):
    """Steps that run at once; the group ends when all of them have."""

    kind: Literal["parallel"] = "parallel"
    name: str
    steps: tuple[Step, ...]
    description: str = ""


class Repeat(_Frozen):
    """Run `steps` again, at most `max_times` in all, until result `until` meets specification.

    When every attempt falls short, `on_exhausted` either opens a deviation for QA or
    abandons the batch (e.g. the re-collection limit).
    """

    kind: Literal["repeat"] = "repeat"
    name: str
    steps: tuple[Step, ...]
    until: str
    max_times: int
    on_exhausted: Literal["deviation", "abandon"] = "deviation"
    description: str = ""


class FollowUp(_Frozen):
    """Follow-up visits at `visits` after the step starts, each reported within `window`.

    A visit not reported in time opens a deviation that does not stop the schedule: the
    patient's next visit still happens, and QA assesses the missed one.
    """

    kind: Literal["follow_up"] = "follow_up"
    name: str
    visits: tuple[timedelta, ...]
    window: timedelta
    event: str
    ask: Call
    records: tuple[str, ...] = ()
    description: str = ""


class Branch(_Frozen):
    """Run one of several lists of steps, chosen by what the batch knows by then.

    `by` says what decides: "result" (the value of a qualitative result recorded earlier,
    e.g. eligible yes/no; its specification lists the values) or "option" (the order's
    choice, e.g. fresh or cryopreserved apheresis). Every possible outcome needs a case,
    unless `otherwise` is given. (A numeric result decides nothing by itself: out of
    specification it is a deviation for QA.)
    """

    kind: Literal["branch"] = "branch"
    name: str
    by: Literal["result", "option"]
    on: str
    cases: dict[str, tuple[Step, ...]]
    otherwise: tuple[Step, ...] | None = None
    description: str = ""

    def step_lists(self) -> list[tuple[Step, ...]]:
        """Every list of steps the branch may run."""
        return [*self.cases.values(), *([self.otherwise] if self.otherwise is not None else [])]


class Compute(_Frozen):
    """Run a registered product function (`workflows.functions`) inside the workflow: its
    inputs (results recorded earlier, the order's weight, options) and its outputs are
    recorded, and the outputs judged against the specification like any result."""

    kind: Literal["compute"] = "compute"
    name: str
    function: str
    function_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    inputs: tuple[str, ...]
    records: tuple[str, ...]
    description: str = ""


class Series(_Frozen):
    """Repeated observations or doses: occurrence n is due `every` x (n - 1) after the step
    starts, asked (optional) and reported within `window`; at most `count` occurrences.

    Each report's `records` are kept as observations with their time and judged against the
    specification: a value outside its limit opens a deviation that, unless `breach_stops`,
    does not stop the schedule (a CRS grade >= 3 is assessed while observation goes on). An
    occurrence not reported in time opens a non-blocking deviation. With `may_stop`, a report
    whose outcome is "stopped" ends the series early (a dose series the physician stops): the
    occurrences not given are no deviation.
    """

    kind: Literal["series"] = "series"
    name: str
    event: str
    count: int
    every: timedelta
    window: timedelta
    ask: Call | None = None
    records: tuple[str, ...] = ()
    may_stop: bool = False
    breach_stops: bool = False
    description: str = ""


class End(_Frozen):
    """End the batch cleanly with `outcome` (not eligible, not manufacturable): what was done
    is compensated, and the batch is neither abandoned nor a deviation. The last step of a
    stage or of a branch's case."""

    kind: Literal["end"] = "end"
    name: str
    outcome: str = Field(pattern=NAME_PATTERN)
    description: str = ""


Step = Annotated[
    Task
    | WaitFor
    | Handoff
    | Gate
    | Hold
    | Decide
    | Parallel
    | Repeat
    | FollowUp
    | Branch
    | End
    | Compute
    | Series,
    Field(discriminator="kind"),
]
Parallel.model_rebuild()
Repeat.model_rebuild()
Branch.model_rebuild()


def children(step: Step) -> tuple[Step, ...]:
    """The steps nested in `step` (a parallel's, a repeat's, every case of a branch)."""
    if isinstance(step, Parallel | Repeat):
        return step.steps
    if isinstance(step, Branch):
        return tuple(s for steps in step.step_lists() for s in steps)
    return ()


class Stage(_Frozen):
    """A named phase of the process (enrolment, collection, manufacturing ...)."""

    name: str
    steps: tuple[Step, ...]
