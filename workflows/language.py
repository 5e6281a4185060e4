"""The process language: a small typed vocabulary for process, stage and step (after ISA-88).

A process engineer writes a product as a `process(...)` of `stage(...)`s, each a list of steps
made with the functions of `workflows.authoring` (re-exported by `workflows`); the values they
make are defined here. Every function returns a frozen pydantic value, so a
definition is plain data: it is hashed, validated, shipped in a batch's start input and
interpreted by one workflow (`workflows.engine`). Policies sit on the step they govern.

Step kinds:
    task      an activity (book a slot, allocate lots, notify)
    wait_for  ask an outside system to act, then wait for its report, with a deadline
    handoff   custody transfer the receiver verifies against the batch's COI and label
    gate      a human decision with the roles allowed, the meaning of the signature and the
              records that must exist first
    hold      the maximum time between two named steps, enforced by a durable timer
    parallel  steps that run at once (release assays)
    repeat    a bounded repeat until a result meets the specification (re-collection)
    decide    judge recorded results against the product's specification
    follow_up long-term follow-up visits on a schedule of durable timers
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflows.vocabulary import PartyKind, Role


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _without_retired(data: Any, retired: dict[str, Any]) -> Any:
    """Accept a field the language no longer has only with the one value it could take
    (definitions pinned in running batches' histories still carry it); refuse any other."""
    if not isinstance(data, dict):
        return data
    for field, only in retired.items():
        if field in data:
            if data[field] != only:
                raise ValueError(f"'{field}' is no longer part of the language (it was {only!r})")
            data = {k: v for k, v in data.items() if k != field}
    return data


def minutes(n: float) -> timedelta:
    """A duration of `n` minutes."""
    return timedelta(minutes=n)


def hours(n: float) -> timedelta:
    """A duration of `n` hours."""
    return timedelta(hours=n)


def days(n: float) -> timedelta:
    """A duration of `n` days."""
    return timedelta(days=n)


class Policy(_Frozen):
    """How one activity call is bounded: its timeout and its retries.

    `timeout` and `attempts` have no defaults on purpose: validation refuses a step that
    leaves either open, because Temporal's own default is to retry forever.
    """

    timeout: timedelta | None = Field(default=None, description="Start-to-close timeout")
    attempts: int | None = Field(default=None, description="Maximum attempts, retries included")
    first_retry_after: timedelta = Field(default=timedelta(seconds=2))
    backoff: float = Field(default=2.0, ge=1.0)
    max_retry_interval: timedelta = Field(default=timedelta(minutes=10))

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        # No activity heartbeats, so a heartbeat timeout could only fail a healthy call.
        return _without_retired(data, {"heartbeat": None})


def policy(
    timeout: timedelta | None,
    attempts: int | None,
    *,
    first_retry_after: timedelta = timedelta(seconds=2),
    backoff: float = 2.0,
    max_retry_interval: timedelta = timedelta(minutes=10),
) -> Policy:
    """A bounded call policy: `timeout` per attempt, at most `attempts` attempts."""
    return Policy(
        timeout=timeout,
        attempts=attempts,
        first_retry_after=first_retry_after,
        backoff=backoff,
        max_retry_interval=max_retry_interval,
    )


#: Names of parties (and of order options): lower case, as in `manufacturing_site`.
NAME_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"
#: The party a call names when vein2vein itself does the work (no outside site).
SYSTEM = "system"


class Party(_Frozen):
    """An organisation that takes part in a product's process (a central laboratory, an
    apheresis centre, a depot). Each order names the site that plays each party."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: PartyKind
    description: str = ""


#: The parties of a product that declares none: the three every product had at first.
CLASSIC_PARTIES = (
    Party(name="treatment_centre", kind=PartyKind.TREATMENT_CENTRE),
    Party(name="manufacturing_site", kind=PartyKind.MANUFACTURING_SITE),
    Party(name="courier", kind=PartyKind.COURIER),
)


class Option(_Frozen):
    """A choice made per order (e.g. fresh or cryopreserved apheresis), one of `choices`;
    validated at intake and recorded on the batch."""

    name: str = Field(pattern=NAME_PATTERN)
    choices: tuple[str, ...]
    default: str | None = None
    description: str = ""


class Call(_Frozen):
    """An activity to call at the site of one of the product's parties, under a policy."""

    activity: str
    site: str = Field(default=SYSTEM, description="A party of the product, or 'system'")
    policy: Policy = Policy()
    params: dict[str, str] = Field(default_factory=dict)


class Limit(_Frozen):
    """One line of a specification: a numeric range or a set of allowed values."""

    unit: str = ""
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] = ()

    def accepts(self, value: float | str) -> bool:
        """True when `value` meets this limit."""
        if self.allowed:
            return str(value) in self.allowed
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self) -> str:
        """The limit as a reviewer reads it, e.g. '>= 70 %'."""
        if self.allowed:
            return " or ".join(self.allowed)
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        return " and ".join(parts) + (f" {self.unit}" if self.unit else "")


def within(min: float | None = None, max: float | None = None, unit: str = "") -> Limit:
    """A numeric limit, e.g. `within(min=70, unit="%")`."""
    return Limit(min=min, max=max, unit=unit)


def one_of(*allowed: str) -> Limit:
    """A qualitative limit, e.g. `one_of("negative")`."""
    return Limit(allowed=tuple(allowed))


class TemperatureRange(_Frozen):
    """The storage or transport temperature a handoff must have respected."""

    min_c: float
    max_c: float
    max_minutes_outside: float = 0


def celsius(min_c: float, max_c: float, *, tolerate_minutes: float = 0) -> TemperatureRange:
    """A temperature range, with the minutes outside it that still count as compliant."""
    return TemperatureRange(min_c=min_c, max_c=max_c, max_minutes_outside=tolerate_minutes)


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
    performers of those steps may not sign. A `release` gate's approval releases the batch.
    """

    kind: Literal["gate"] = "gate"
    name: str
    roles: tuple[Role, ...]
    meaning: str
    requires: tuple[str, ...] = ()
    release: bool = False
    description: str = ""


class Hold(_Frozen):
    """The maximum time between the end of step `start` and the end of step `end`.

    Placed right after `start` in the process; from there a durable timer runs in the
    background, and a breach opens a deviation even if nobody reports anything.
    """

    kind: Literal["hold"] = "hold"
    name: str
    start: str
    end: str
    max: timedelta
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


Step = Annotated[
    Task | WaitFor | Handoff | Gate | Hold | Decide | Parallel | Repeat | FollowUp,
    Field(discriminator="kind"),
]
Parallel.model_rebuild()
Repeat.model_rebuild()


class Stage(_Frozen):
    """A named phase of the process (enrolment, collection, manufacturing ...)."""

    name: str
    steps: tuple[Step, ...]
