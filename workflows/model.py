"""Values that cross a boundary: batch input, reported events, decisions, the batch record.

Everything here is a pydantic model so it survives the Temporal data converter, the HTTP
service and the ledger unchanged. Nothing here may carry a patient's name, birth date or
medical record number: the order knows the patient only by a pseudonym.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Pseudonyms are opaque tokens issued by the treatment centre's pseudonymisation service.
PSEUDONYM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{5,39}$"
#: Batch IDs become Temporal workflow IDs, which are never encrypted: no patient data, ever.
BATCH_ID_PATTERN = r"^B-[A-Z0-9]{6,24}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Role(StrEnum):
    """Roles a person can hold; gates name the roles allowed to decide them."""

    OPERATOR = "operator"
    QA = "qa"
    QUALIFIED_PERSON = "qualified_person"
    PROCESS_ENGINEER = "process_engineer"
    PHYSICIAN = "physician"
    ADMIN = "admin"


class BatchStatus(StrEnum):
    """Status of a batch, always derived from what happened (see `BatchRecord.status`)."""

    PLANNED = "planned"
    ACTIVE = "active"
    HELD = "held"
    QUARANTINED = "quarantined"
    RELEASED = "released"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


class Order(_Frozen):
    """A treatment order: who (pseudonymously) and where. Extra fields are refused."""

    order_id: str = Field(pattern=r"^[A-Za-z0-9-]{3,40}$")
    patient_pseudonym: str = Field(pattern=PSEUDONYM_PATTERN)
    treatment_centre: str
    manufacturing_site: str
    courier: str
    weight_kg: float | None = Field(default=None, gt=0, lt=400)
    treatment_window_start: datetime | None = None
    treatment_window_end: datetime | None = None


class BatchOrder(_Frozen):
    """What a batch workflow knows of its order: no patient field at all.

    Workflow inputs are stored in Temporal history in plain form, so the patient's pseudonym
    stays with the order in the caller's store and never enters the workflow.
    """

    order_id: str
    treatment_centre: str
    manufacturing_site: str
    courier: str
    weight_kg: float | None = None
    treatment_window_start: datetime | None = None
    treatment_window_end: datetime | None = None

    @classmethod
    def of(cls, order: Order) -> BatchOrder:
        """The workflow's view of an intake order."""
        return cls(**order.model_dump(exclude={"patient_pseudonym"}))


class Resume(BaseModel):
    """Where a batch that continued as new picks up: its record and its position.

    A 15-year follow-up continues as new after each visit so that no single run's history or
    run timeout grows with the patient's lifetime.
    """

    model_config = ConfigDict(extra="forbid")

    record: BatchRecord
    stage_index: int
    step_index: int
    visit: int
    origin: datetime
    compensations: list[tuple[str, Any]] = Field(default_factory=list)
    done_at: dict[str, datetime] = Field(default_factory=dict)
    performers: dict[str, str] = Field(default_factory=dict)
    used_signatures: list[str] = Field(default_factory=list)
    seen_events: list[str] = Field(default_factory=list)
    person_retries: dict[str, int] = Field(default_factory=dict)
    projected: int = 0


class BatchStart(_Frozen):
    """The start input of a batch workflow. The compiled definition travels with it."""

    batch_id: str = Field(pattern=BATCH_ID_PATTERN)
    order: BatchOrder
    definition: Any  # workflows.definition.CompiledDefinition; Any avoids an import cycle
    trusted_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Deprecated and ignored: kept only so that recorded start inputs load. The "
        "keys a batch trusts come from the worker's key registry (workflows.keyring), never "
        "from whoever started the batch.",
    )
    signature_max_age_seconds: int = Field(default=900, gt=0)
    resume: Resume | None = None


class TemperatureSummary(_Frozen):
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


class CustodyReport(_Frozen):
    """What the receiver of a handoff scanned and saw."""

    from_party: str
    to_party: str
    scanned_coi: str
    container_label: str
    location: str
    temperature: TemperatureSummary | None = None


class ResultValue(_Frozen):
    """One recorded result (assay, count, in-process check)."""

    value: float | str
    unit: str = ""
    method: str = ""


class ExternalEvent(_Frozen):
    """A report from the outside world (courier, hospital, MES, LIMS, operator scan).

    `event_id` is the reporter's idempotency key: a repeat is acknowledged and ignored.
    """

    event_id: str = Field(min_length=1, max_length=200)
    batch_id: str = Field(pattern=BATCH_ID_PATTERN)
    step: str
    type: str
    reporter: str
    occurred_at: datetime
    outcome: str = "ok"
    results: dict[str, ResultValue] = Field(default_factory=dict)
    custody: CustodyReport | None = None
    lots: list[str] = Field(default_factory=list)
    data: dict[str, str] = Field(default_factory=dict)


class DecisionAction(StrEnum):
    """What a signed decision does."""

    APPROVE = "approve"
    REJECT = "reject"
    RETRY = "retry"
    CONTINUE = "continue"
    EXCEPTIONAL_RELEASE = "exceptional_release"
    ABANDON = "abandon"


class DecisionBody(_Frozen):
    """The exact content a signer signs (21 CFR 11.50: printed name, time, meaning)."""

    signature_id: str = Field(min_length=8, max_length=80)
    batch_id: str
    target: str = Field(description="Gate step name, or a deviation id such as DEV-1")
    action: DecisionAction
    signer_id: str
    printed_name: str
    role: Role
    signed_at: datetime
    meaning: str
    reason: str = ""
    record_hash: str = Field(description="Hash of the batch record version that was signed")
    key_id: str

    def canonical_bytes(self) -> bytes:
        """The bytes covered by the signature: canonical JSON of every field."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()


class SignedDecision(_Frozen):
    """A decision body and the deployment's Ed25519 signature over its canonical bytes."""

    body: DecisionBody
    signature: str = Field(description="hex Ed25519 signature")


class CustodyEntry(_Frozen):
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


class DeviationKind(StrEnum):
    """Why a deviation was opened."""

    IDENTITY_MISMATCH = "identity_mismatch"
    TEMPERATURE_EXCURSION = "temperature_excursion"
    TEMPERATURE_EVIDENCE_MISSING = "temperature_evidence_missing"
    OUT_OF_SPECIFICATION = "out_of_specification"
    HOLD_BREACHED = "hold_breached"
    DEADLINE_MISSED = "deadline_missed"
    STEP_FAILED = "step_failed"
    RETRIES_EXHAUSTED = "retries_exhausted"
    REPEAT_EXHAUSTED = "repeat_exhausted"
    LOT_RECALLED = "lot_recalled"
    VISIT_MISSED = "visit_missed"


#: Deviations that only stop the batch (held); all others also quarantine its material.
TECHNICAL_DEVIATIONS = frozenset({DeviationKind.RETRIES_EXHAUSTED})


class Deviation(_Frozen):
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

    @property
    def is_open(self) -> bool:
        """True until a person has disposed of it."""
        return self.disposition is None


class RecordedResult(_Frozen):
    """A result as recorded on the batch, with its verdict against the specification."""

    name: str
    value: float | str
    unit: str
    step: str
    at: datetime
    reporter: str
    in_specification: bool | None = None
    limit: str | None = None


class Signature(_Frozen):
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


class StepState(StrEnum):
    """Progress of one step in a batch."""

    ACTIVE = "active"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class StepRun(_Frozen):
    """One execution of a step (a repeat runs the same step several times)."""

    step: str
    stage: str
    iteration: int = 1
    state: StepState
    started_at: datetime
    ended_at: datetime | None = None
    performed_by: str | None = None


class AuditEvent(_Frozen):
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


class BatchRecord(BaseModel):
    """Everything known about a batch; the query result and the ledger's source."""

    model_config = ConfigDict(extra="forbid")

    batch_id: str
    product: str
    definition_version: str
    definition_hash: str
    order_id: str
    sites: dict[str, str]
    coi: str | None = None
    status: BatchStatus = BatchStatus.PLANNED
    stage: str | None = None
    waiting_for: list[str] = Field(default_factory=list)
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
    compensations: list[str] = Field(default_factory=list)
    audit: list[AuditEvent] = Field(default_factory=list)
    version: int = 0
    record_hash: str = Field(default="", description="content_hash() at this version")

    def content_hash(self) -> str:
        """Hash of the record's content at this version; what a signer signs."""
        view = self.model_dump(
            mode="json", exclude={"audit", "waiting_for", "next_deadline", "record_hash"}
        )
        return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()

    def open_deviations(self, *, blocking_only: bool = False) -> list[Deviation]:
        """Deviations nobody has disposed of yet (only those that stop the batch, if asked)."""
        return [d for d in self.deviations if d.is_open and (d.blocking or not blocking_only)]


class BatchOutcome(_Frozen):
    """What a batch workflow returns when it ends."""

    batch_id: str
    status: BatchStatus
    coi: str | None
    reason: str | None = None


class StepCall(_Frozen):
    """What the interpreter hands an activity: which batch, which step, where, and the key."""

    batch_id: str
    product: str
    step: str
    activity: str
    idempotency_key: str
    site_role: str
    site: str
    coi: str | None = None
    order_id: str
    params: dict[str, str] = Field(default_factory=dict)
    expects: str | None = Field(default=None, description="Event type the step waits for")
    records: list[str] = Field(default_factory=list, description="Results the report must carry")
    window_start: datetime | None = None
    window_end: datetime | None = None
    weight_kg: float | None = None
    results: dict[str, float | str] = Field(
        default_factory=dict, description="Values recorded so far, for calculations"
    )


class StepOutput(_Frozen):
    """What an activity hands back: results, consumed lots and plain data."""

    results: dict[str, ResultValue] = Field(default_factory=dict)
    lots: list[str] = Field(default_factory=list)
    data: dict[str, str] = Field(default_factory=dict)
    coi: str | None = None


class LotRecall(_Frozen):
    """A recall of a material lot: every batch that consumed it and is not yet infused is held."""

    recall_id: str = Field(min_length=4, max_length=80)
    lot: str
    reason: str = Field(min_length=3)
    requested_by: str


class EventAck(_Frozen):
    """The answer to a reported event."""

    event_id: str
    duplicate: bool = False


class DecisionReceipt(_Frozen):
    """The answer to an accepted decision."""

    signature_id: str
    target: str
    action: DecisionAction
    status: BatchStatus


Resume.model_rebuild()
BatchStart.model_rebuild()
