"""The batch record: what is known about one batch, published by its `record` query and
projected into the ledger. Readers use these typed values; nothing here is parsed from text.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflows import content
from workflows.vocabulary import (
    BatchStatus,
    DecisionAction,
    DeviationKind,
    Frozen,
    PartyKind,
    Role,
    Severity,
    StepState,
)


class TemperatureSummary(Frozen):
    """A summary of a logger's readings, computed outside the workflow (never raw readings).

    The evidence fields (`logger_id`, `readings`, `interval_seconds`) are optional in the model
    only so that reports recorded before they existed still load; a new report without them is
    refused (see `evidence_problems`). The full series, when a courier sends it, is kept in the
    records database and named here by its SHA-256 (`series_sha256`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    min_c: float
    max_c: float
    minutes_outside_range: float = Field(default=0, ge=0)
    logger_id: str | None = Field(default=None, min_length=1, max_length=80)
    readings: int | None = Field(default=None, ge=0)
    interval_seconds: float | None = Field(default=None, gt=0)
    series_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _consistent(self) -> TemperatureSummary:
        if self.min_c > self.max_c:
            raise ValueError(f"min_c {self.min_c} is above max_c {self.max_c}")
        return self

    def evidence_problems(self) -> list[str]:
        """What this summary lacks to count as evidence (empty when it is complete)."""
        problems = []
        if not self.logger_id:
            problems.append("no logger or device id")
        if not self.readings:
            problems.append("no readings")
        if self.interval_seconds is None:
            problems.append("no reading interval")
        elif self.readings:
            covered = self.readings * self.interval_seconds / 60
            if self.minutes_outside_range > covered:
                problems.append(
                    f"{self.minutes_outside_range:g} min outside range but the readings "
                    f"cover only {covered:g} min"
                )
        return problems


class CustodyEntry(Frozen):
    """One transfer of control of the batch's material."""

    step: str
    from_party: str
    to_party: str
    at: datetime
    location: str
    container_label: str
    scanned_coi: str
    identity_verified: bool
    label_verified: bool
    temperature: TemperatureSummary | None = None


class Deviation(Frozen):
    """A recorded departure from the approved process and, once decided, its disposition."""

    deviation_id: str
    kind: DeviationKind
    step: str
    opened_at: datetime
    description: str
    allowed: tuple[DecisionAction, ...]
    blocking: bool = Field(default=True, description="False: assessed by QA, process goes on")
    results: tuple[str, ...] = Field(
        default=(), description="Specified results this deviation judged out of specification"
    )
    disposition: DecisionAction | None = None
    disposed_by: str | None = None
    disposed_at: datetime | None = None
    reason: str | None = None
    severity: Severity | None = content.added(None, description="QA's classification")
    capa: str | None = content.added(None, description="The CAPA the disposition names")
    on_hold: str | None = content.added(
        None, description="Why QA holds it open (the investigation), until it is disposed of"
    )
    rework_to: tuple[str, ...] = content.added(
        (), description="The steps the definition allows reworking from after this deviation"
    )
    conditions: str | None = content.added(
        None, description="The conditions QA accepted it on (a conditional acceptance)"
    )
    conditions_met: str | None = content.added(
        None, description="QA's signed confirmation that the conditions are met: the evidence"
    )
    reworked_from: str | None = content.added(
        None, description="The step QA sent the batch back to (a rework)"
    )

    @property
    def is_open(self) -> bool:
        """True until a person has disposed of it."""
        return self.disposition is None

    @property
    def awaiting_conditions(self) -> bool:
        """Accepted on conditions that QA has not yet confirmed met: release waits for them."""
        return (
            self.disposition == DecisionAction.ACCEPT_CONDITIONALLY and self.conditions_met is None
        )

    def terms(self) -> str | None:
        """A disposition's terms in words: the step a rework went back to, or the conditions
        of an acceptance and whether QA has confirmed them met."""
        if self.reworked_from:
            return f"reworked from {self.reworked_from}"
        if self.conditions:
            met = f"met: {self.conditions_met}" if self.conditions_met else "not yet confirmed met"
            return f"on conditions: {self.conditions} ({met})"
        return None

    def choices(self) -> tuple[DecisionAction, ...]:
        """The dispositions QA may give it: those it allows, conditional acceptance wherever
        continuing is allowed, and rework where the definition names steps to go back to."""
        extra: list[DecisionAction] = []
        if DecisionAction.CONTINUE in self.allowed:
            extra.append(DecisionAction.ACCEPT_CONDITIONALLY)
        if self.rework_to:
            extra.append(DecisionAction.REWORK)
        return (*self.allowed, *extra)


class RecordedResult(Frozen):
    """A result as recorded on the batch, with its verdict against the specification."""

    name: str
    value: float | str
    unit: str
    step: str
    at: datetime
    reporter: str
    in_specification: bool | None = None
    limit: str | None = None


class Signature(Frozen):
    """The manifestation of a signature kept on the record (11.50)."""

    signature_id: str
    target: str
    action: DecisionAction
    signer_id: str
    printed_name: str
    role: Role
    signed_at: datetime
    meaning: str
    reason: str
    record_hash: str
    key_id: str | None = Field(
        default=None, description="The registry key that verified it (None on older records)"
    )


class Observation(Frozen):
    """One value of a repeated observation or dose series, with when and which occurrence."""

    name: str
    value: float | str
    unit: str
    step: str
    occurrence: int
    at: datetime
    reporter: str
    in_specification: bool | None = None


class StepRun(Frozen):
    """One execution of a step (a repeat runs the same step several times)."""

    step: str
    stage: str
    iteration: int = 1
    state: StepState
    started_at: datetime
    ended_at: datetime | None = None
    performed_by: str | None = None


class AuditEvent(Frozen):
    """One audit-trail entry: who did what, when, old and new value, and why (11.10(e))."""

    batch_id: str
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    old_value: str | None = None
    new_value: str | None = None
    reason: str | None = None
    signature: Signature | None = None
    definition_hash: str
    product: str

    @property
    def idempotency_key(self) -> str:
        """The key under which the ledger stores this entry exactly once."""
        return f"{self.batch_id}:{self.seq}"


class AwaitKind(StrEnum):
    """What kind of thing a batch waits for."""

    EVENT = "event"
    DECISION = "decision"
    DISPOSITION = "disposition"


class Awaiting(Frozen):
    """One thing the batch waits for now: a report, a gate's decision or a disposition."""

    kind: AwaitKind
    target: str = Field(description="The step (event, decision) or deviation id (disposition)")
    event: str | None = Field(default=None, description="The event type a report must have")
    roles: tuple[Role, ...] = Field(default=(), description="Who may decide (not for events)")
    since: datetime
    deadline: datetime | None = None

    def label(self) -> str:
        """How a person reads it, e.g. 'decision at qa_disposition'."""
        return await_label(self.kind, self.target, self.event)


def await_label(kind: AwaitKind, target: str, event: str | None = None) -> str:
    """The one rendering of a thing awaited, for `Awaiting.label` and `waiting_for`."""
    if kind == AwaitKind.EVENT:
        return f"event {event} at {target}"
    if kind == AwaitKind.DECISION:
        return f"decision at {target}"
    return f"disposition of {target}"


class ClockKind(StrEnum):
    """What a running clock limits."""

    HOLD = "hold"
    NOT_BEFORE = "not_before"
    DEADLINE = "deadline"
    VISIT = "visit"
    TREATMENT_WINDOW = "treatment_window"
    #: Material the batch holds is usable until then (an allocated dose's shelf life).
    SHELF_LIFE = "shelf_life"


class Clock(Frozen):
    """A running clock: from `started` to `limit`; `remaining` as of the record's reading."""

    name: str
    kind: ClockKind
    started: datetime | None
    limit: datetime
    remaining: timedelta | None = Field(
        default=None, description="limit - now when the record was read (negative: breached)"
    )
    ended: datetime | None = Field(default=None, description="When a stopped clock stopped")
    breached: bool = False


#: What a signer does not sign: derived views of the record and the audit trail itself.
_NOT_SIGNED = frozenset(
    {"audit", "waiting_for", "awaiting", "clocks", "stopped_clocks", "next_deadline", "record_hash"}
)


class BatchRecord(BaseModel):
    """Everything known about a batch; the query result and the ledger's source."""

    model_config = ConfigDict(extra="forbid")

    batch_id: str
    product: str
    definition_version: str
    definition_hash: str
    order_id: str
    sites: dict[str, str]
    parties: dict[str, PartyKind] = content.added(
        default_factory=dict, description="Each party's kind, when the product declares parties"
    )
    options: dict[str, str] = content.added(
        default_factory=dict, description="The order's choice for each option of the product"
    )
    coi: str | None = None
    status: BatchStatus = BatchStatus.PLANNED
    stage: str | None = None
    waiting_for: list[str] = Field(
        default_factory=list, description="`awaiting` as a person reads it (display only)"
    )
    awaiting: list[Awaiting] = Field(default_factory=list)
    clocks: list[Clock] = Field(default_factory=list, description="Clocks running now")
    stopped_clocks: list[Clock] = Field(
        default_factory=list, description="Hold clocks that stopped: met, or breached"
    )
    next_deadline: datetime | None = None
    steps: list[StepRun] = Field(default_factory=list)
    custody: list[CustodyEntry] = Field(default_factory=list)
    results: dict[str, RecordedResult] = Field(default_factory=dict)
    deviations: list[Deviation] = Field(default_factory=list)
    signatures: list[Signature] = Field(default_factory=list)
    lots: list[str] = Field(default_factory=list)
    released: bool = False
    infused: bool = False
    completed: bool = False
    exceptional_release: bool = False
    abandoned_reason: str | None = None
    observations: list[Observation] = content.added(
        default_factory=list, description="Every value of every repeated observation, in order"
    )
    ended_outcome: str | None = content.added(
        None, description="Why the process ended early and cleanly (e.g. not_eligible)"
    )
    compensations: list[str] = Field(default_factory=list)
    audit: list[AuditEvent] = Field(default_factory=list)
    version: int = 0
    record_hash: str = Field(default="", description="content_hash() at this version")

    def content_hash(self) -> str:
        """Hash of the record's content at this version; what a signer signs."""
        return content.digest(self, exclude=_NOT_SIGNED)

    @property
    def finished(self) -> bool:
        """True once the batch has completed, been abandoned or ended early."""
        return self.completed or self.abandoned_reason is not None or self.ended_outcome is not None

    def site_of_kind(self, kind: PartyKind) -> str | None:
        """The site of the first party of `kind` (a product without declared parties has one
        party per classic kind, named after it)."""
        classic = {k.value: k for k in PartyKind}
        kinds = self.parties or {n: classic[n] for n in self.sites if n in classic}
        return next(
            (self.sites[n] for n, k in kinds.items() if k == kind and n in self.sites), None
        )

    def open_deviations(self, *, blocking_only: bool = False) -> list[Deviation]:
        """Deviations nobody has disposed of yet (only those that stop the batch, if asked)."""
        return [d for d in self.deviations if d.is_open and (d.blocking or not blocking_only)]

    def unmet_conditions(self) -> list[Deviation]:
        """Deviations accepted on conditions not yet confirmed met; release waits for them."""
        return [d for d in self.deviations if d.awaiting_conditions]
