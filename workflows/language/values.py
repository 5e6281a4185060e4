"""The values a step is made of: durations, call policies, calls, parties, options,
specification limits and temperature ranges. Frozen pydantic values, hashed with the
definition that uses them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from workflows import content
from workflows.slots import parse_chain
from workflows.vocabulary import PartyKind


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


class Rework(_Frozen):
    """A validated reprocessing path: after a deviation at step `at`, QA may send the batch
    back to the earlier top-level step `back_to` and run it again from there (GMP allows
    reprocessing only where the approved process describes it)."""

    at: str
    back_to: str
    description: str = ""


#: A call parameter's value: text, a number, or yes/no (a duration is ISO 8601 text, "P2D").
ParamValue = bool | int | float | str


class ParamSpec(_Frozen):
    """What a call parameter must be, checked when the definition compiles."""

    type: Literal["text", "number", "integer", "boolean", "duration", "choice", "slot_chain"] = (
        "text"
    )
    choices: tuple[str, ...] = ()
    description: str = ""

    def problem(self, value: ParamValue) -> str | None:
        """Why `value` is not a valid parameter of this type; None when it is."""
        if self.type == "choice":
            return None if str(value) in self.choices else f"one of {', '.join(self.choices)}"
        if self.type == "boolean":
            return None if isinstance(value, bool) or value in ("true", "false") else "yes/no"
        if self.type == "number":
            try:
                float(value) if not isinstance(value, bool) else float("x")
            except ValueError:
                return "a number"
            return None
        if self.type == "integer":
            whole = isinstance(value, int) and not isinstance(value, bool)
            whole = whole or (isinstance(value, str) and value.strip().lstrip("-").isdigit())
            return None if whole else "an integer"
        if self.type == "slot_chain":
            try:
                parse_chain(str(value))
            except ValueError as err:
                return f"a slot chain, name@party:offset_days:days (comma separated): {err}"
            return None
        if self.type == "duration":
            try:
                TypeAdapter(timedelta).validate_python(value)
            except ValidationError:
                return "a duration (ISO 8601, e.g. P2D or PT4H)"
            return None
        return None if isinstance(value, str) else "text"


def param_text(value: ParamValue) -> str:
    """How a parameter reaches an activity: always text (`StepCall.params`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


class Call(_Frozen):
    """An activity to call at the site of one of the product's parties, under a policy."""

    activity: str
    site: str = Field(default=SYSTEM, description="A party of the product, or 'system'")
    policy: Policy = Policy()
    params: dict[str, ParamValue] = Field(default_factory=dict)


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


class ActivitySpec(_Frozen):
    """An activity a product adds to the framework's own: the work is asked of the site the
    call addresses, through its adapter, like any site activity. `params` are the parameters
    its calls may pass, each checked at compile time."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{2,62}$")
    description: str
    params: dict[str, ParamSpec] = content.added(default_factory=dict)
