"""Values that cross a boundary: batch input, reported events, decisions, activity calls.

Everything here is a pydantic model so it survives the Temporal data converter, the HTTP
service and the ledger unchanged. Nothing here may carry a patient's name, birth date or
medical record number: the order knows the patient only by a pseudonym. The shared enums live
in `workflows.vocabulary` and the batch record in `workflows.record`; both are re-exported here.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from workflows import content
from workflows.record import (
    AuditEvent,
    Awaiting,
    AwaitKind,
    BatchRecord,
    Clock,
    ClockKind,
    CustodyEntry,
    Deviation,
    Observation,
    RecordedResult,
    Signature,
    StepRun,
    TemperatureSummary,
)
from workflows.vocabulary import (
    NEEDS_CAPA,
    TECHNICAL_DEVIATIONS,
    AuditAction,
    BatchStatus,
    DecisionAction,
    DeviationKind,
    Frozen,
    Role,
    Severity,
    StepState,
)

#: Pseudonyms are opaque tokens issued by the treatment centre's pseudonymisation service.
PSEUDONYM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{5,39}$"


#: Batch IDs become Temporal workflow IDs, which are never encrypted: no patient data, ever.
BATCH_ID_PATTERN = r"^B-[A-Z0-9]{6,24}$"


#: The parties an order once named in fields of their own; read into `sites` on input.
_CLASSIC_SITE_FIELDS = ("treatment_centre", "manufacturing_site", "courier")


def _sites_from_classic_fields(data: Any) -> Any:
    if isinstance(data, dict) and any(f in data for f in _CLASSIC_SITE_FIELDS):
        classic = {f: data[f] for f in _CLASSIC_SITE_FIELDS if f in data}
        rest = {k: v for k, v in data.items() if k not in _CLASSIC_SITE_FIELDS}
        sites = dict(rest.get("sites") or {})
        for party, site in classic.items():
            if sites.setdefault(party, site) != site:
                raise ValueError(f"{party} is given twice: '{site}' and sites.{party}")
        return {**rest, "sites": sites}
    return data


def _shaped(pattern: str, rule: str) -> AfterValidator:
    """Refuse a string not matching `pattern` with `rule` in words (the value is not echoed
    in the message: it may be a mistyped patient identifier)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(rule)
        return value

    return AfterValidator(check)


#: An order id as the treatment centre issues it.
ORDER_ID_PATTERN = r"^[A-Za-z0-9-]{3,40}$"
#: An order id field: the schema shows the pattern, a mismatch is refused in words.
OrderId = Annotated[
    str,
    _shaped(ORDER_ID_PATTERN, "an order id is 3 to 40 letters, digits and hyphens"),
    Field(json_schema_extra={"pattern": ORDER_ID_PATTERN}),
]
#: A patient pseudonym field, shaped like `OrderId`.
Pseudonym = Annotated[
    str,
    _shaped(
        PSEUDONYM_PATTERN,
        "a patient pseudonym is 6 to 40 letters, digits and hyphens, starting with a letter"
        " or digit, as the centre's pseudonymisation service issues it (never a name)",
    ),
    Field(json_schema_extra={"pattern": PSEUDONYM_PATTERN}),
]


class _OrderFields(Frozen):
    order_id: OrderId
    sites: dict[str, str] = Field(
        default_factory=dict,
        description="The site playing each party of the product, by party name "
        "(e.g. treatment_centre: TC-NORTH). `treatment_centre`, `manufacturing_site` and "
        "`courier` may also be given as fields of their own.",
    )
    options: dict[str, str] = Field(
        default_factory=dict, description="The order's choice for each option of the product"
    )
    weight_kg: float | None = Field(default=None, gt=0, lt=400)
    treatment_window_start: datetime | None = None
    treatment_window_end: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _classic_sites(cls, data: Any) -> Any:
        return _sites_from_classic_fields(data)


class Order(_OrderFields):
    """A treatment order: who (pseudonymously), where, and the choices the product offers.
    Extra fields are refused."""

    patient_pseudonym: Pseudonym


class BatchOrder(_OrderFields):
    """What a batch workflow knows of its order: no patient field at all.

    Workflow inputs are stored in Temporal history in plain form, so the patient's pseudonym
    stays with the order in the caller's store and never enters the workflow.
    """

    order_id: str

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


class BatchStart(Frozen):
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


class CustodyReport(Frozen):
    """What the receiver of a handoff scanned and saw."""

    from_party: str
    to_party: str
    scanned_coi: str
    container_label: str
    location: str
    temperature: TemperatureSummary | None = None


class ResultValue(Frozen):
    """One recorded result (assay, count, in-process check)."""

    value: float | str
    unit: str = ""
    method: str = ""


class ExternalEvent(Frozen):
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


class DecisionBody(Frozen):
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
    severity: Severity | None = content.added(
        None, description="A deviation's classification, given at its disposition"
    )
    capa: str | None = content.added(
        None,
        max_length=80,
        description="The CAPA a major or critical deviation's disposition names",
    )
    conditions: str | None = content.added(
        None, description="What a conditional acceptance waits for before release"
    )
    rework_to: str | None = content.added(
        None, description="The step a rework sends the batch back to"
    )

    def canonical_bytes(self) -> bytes:
        """The bytes covered by the signature: canonical JSON of every field (a field added
        later is left out while unset, so signatures made before it still verify)."""
        return json.dumps(content.view(self), sort_keys=True).encode()


class SignedDecision(Frozen):
    """A decision body and the deployment's Ed25519 signature over its canonical bytes."""

    body: DecisionBody
    signature: str = Field(description="hex Ed25519 signature")


class BatchOutcome(Frozen):
    """What a batch workflow returns when it ends."""

    batch_id: str
    status: BatchStatus
    coi: str | None
    reason: str | None = None


class StepCall(Frozen):
    """What the interpreter hands an activity: which batch, which step, where, and the key."""

    batch_id: str
    product: str
    step: str
    activity: str
    idempotency_key: str
    site_role: str
    site: str
    sites: dict[str, str] = Field(
        default_factory=dict, description="The order's site of each party (for slot chains)"
    )
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
    audit: list[AuditEvent] = Field(
        default_factory=list,
        description="Audit events this call carries into the ledger before it acts "
        "(`workflows.engine.projection`)",
    )


class StepOutput(Frozen):
    """What an activity hands back: results, consumed lots and plain data."""

    results: dict[str, ResultValue] = Field(default_factory=dict)
    lots: list[str] = Field(default_factory=list)
    data: dict[str, str] = Field(default_factory=dict)
    coi: str | None = None
    expires: datetime | None = Field(
        default=None,
        description="When the material the call gave the batch (allocated doses) expires",
    )
    audit_landed: bool = Field(
        default=False, description="The call wrote the audit events it carried into the ledger"
    )


#: How a batch refuses a recall because its product already reached the patient (the caller
#: lists such batches for follow-up rather than holding them).
RECALL_ALREADY_INFUSED = "is already infused"


class LotRecall(Frozen):
    """A recall of a material lot: every batch that consumed it and is not yet infused is held."""

    recall_id: str = Field(min_length=4, max_length=80)
    lot: str
    reason: str = Field(min_length=3)
    requested_by: str


class EventAck(Frozen):
    """The answer to a reported event."""

    event_id: str
    duplicate: bool = False


class DecisionReceipt(Frozen):
    """The answer to an accepted decision."""

    signature_id: str
    target: str
    action: DecisionAction
    status: BatchStatus


Resume.model_rebuild()


BatchStart.model_rebuild()


__all__ = [
    "BATCH_ID_PATTERN",
    "NEEDS_CAPA",
    "PSEUDONYM_PATTERN",
    "TECHNICAL_DEVIATIONS",
    "AuditAction",
    "AuditEvent",
    "AwaitKind",
    "Awaiting",
    "BatchOrder",
    "BatchOutcome",
    "BatchRecord",
    "BatchStart",
    "BatchStatus",
    "Clock",
    "ClockKind",
    "CustodyEntry",
    "CustodyReport",
    "DecisionAction",
    "DecisionBody",
    "DecisionReceipt",
    "Deviation",
    "DeviationKind",
    "EventAck",
    "ExternalEvent",
    "LotRecall",
    "Observation",
    "Order",
    "RecordedResult",
    "ResultValue",
    "Resume",
    "Role",
    "Severity",
    "Signature",
    "SignedDecision",
    "StepCall",
    "StepOutput",
    "StepRun",
    "StepState",
    "TemperatureSummary",
]
