"""The shared vocabulary of batches: roles, statuses, decisions, deviation kinds, step states.

Plain enums every layer uses (the engine, the service, the records); no behaviour.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Base of the immutable values that cross a boundary: frozen, extra fields refused."""

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
    ENDED = "ended"


class DecisionAction(StrEnum):
    """What a signed decision does."""

    APPROVE = "approve"
    REJECT = "reject"
    RETRY = "retry"
    CONTINUE = "continue"
    EXCEPTIONAL_RELEASE = "exceptional_release"
    ABANDON = "abandon"
    #: QA holds a deviation open for an investigation: recorded, nothing moves, decided later.
    ON_HOLD = "on_hold"
    #: QA accepts the deviation on stated conditions: the batch goes on as with `continue`,
    #: and release waits until QA confirms the conditions met (`CONDITIONS_MET`).
    ACCEPT_CONDITIONALLY = "accept_conditionally"
    #: QA confirms that a conditionally accepted deviation's conditions are met.
    CONDITIONS_MET = "conditions_met"
    #: QA sends the batch back to an earlier step the definition allows reworking from.
    REWORK = "rework"


class DeviationKind(StrEnum):
    """Why a deviation was opened."""

    IDENTITY_MISMATCH = "identity_mismatch"
    TEMPERATURE_EXCURSION = "temperature_excursion"
    TEMPERATURE_EVIDENCE_MISSING = "temperature_evidence_missing"
    OUT_OF_SPECIFICATION = "out_of_specification"
    HOLD_BREACHED = "hold_breached"
    INTERVAL_TOO_SHORT = "interval_too_short"
    DEADLINE_MISSED = "deadline_missed"
    STEP_FAILED = "step_failed"
    RETRIES_EXHAUSTED = "retries_exhausted"
    REPEAT_EXHAUSTED = "repeat_exhausted"
    LOT_RECALLED = "lot_recalled"
    VISIT_MISSED = "visit_missed"
    OCCURRENCE_MISSED = "occurrence_missed"
    #: Material the batch holds (an allocated dose) passed its shelf life before administration.
    MATERIAL_EXPIRED = "material_expired"


class Severity(StrEnum):
    """A deviation's GMP classification, given by QA at disposition: a major or critical one
    names the CAPA (corrective and preventive action) that answers it."""

    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


#: Classifications whose disposition must name a CAPA.
NEEDS_CAPA = frozenset({Severity.MAJOR, Severity.CRITICAL})


#: Deviations that only stop the batch (held); all others also quarantine its material.
TECHNICAL_DEVIATIONS = frozenset({DeviationKind.RETRIES_EXHAUSTED})


class PartyKind(StrEnum):
    """What kind of organisation a party of a product is; a site has one kind, and an order
    may name a site for a party only when their kinds agree."""

    TREATMENT_CENTRE = "treatment_centre"
    APHERESIS_CENTRE = "apheresis_centre"
    LABORATORY = "laboratory"
    MANUFACTURING_SITE = "manufacturing_site"
    COURIER = "courier"
    DEPOT = "depot"
    PHARMACY = "pharmacy"


class ProductCategory(StrEnum):
    """What a product is made of, in FHIR R5's product-category codes
    (`BiologicallyDerivedProduct.productCategory`): a CAR T is cells, an LNP or a vector is a
    biological agent."""

    ORGAN = "organ"
    TISSUE = "tissue"
    FLUID = "fluid"
    CELLS = "cells"
    BIOLOGICAL_AGENT = "biologicalAgent"


class BusinessError(StrEnum):
    """Why the outside world refused a call for a business reason. An activity raises one as
    its error type; the engine never retries it and opens a step-failed deviation instead."""

    COLLECTION_FAILED = "CollectionFailed"
    IDENTITY_MISMATCH = "IdentityMismatch"
    OUT_OF_SPECIFICATION = "OutOfSpecification"
    BUSINESS_FAILURE = "BusinessFailure"
    NO_CAPACITY = "NoCapacity"
    OUT_OF_STOCK = "OutOfStock"
    NOT_ELIGIBLE = "NotEligible"


class StepState(StrEnum):
    """Progress of one step in a batch."""

    ACTIVE = "active"
    DONE = "done"
    FAILED = "failed"


class AuditAction(StrEnum):
    """What an audit event records; the ledger, the batch record and exports read these."""

    BATCH_ABANDONED = "batch.abandoned"
    BATCH_ABANDONING = "batch.abandoning"
    BATCH_COMPLETED = "batch.completed"
    BATCH_ENDED = "batch.ended"
    BATCH_ENDING = "batch.ending"
    BRANCH_TAKEN = "branch.taken"
    BATCH_INFUSED = "batch.infused"
    BATCH_RELEASED = "batch.released"
    BATCH_STARTED = "batch.started"
    COI_ALLOCATED = "coi.allocated"
    COMPENSATION_DONE = "compensation.done"
    COMPENSATION_FAILED = "compensation.failed"
    CUSTODY_TRANSFERRED = "custody.transferred"
    DEVIATION_OPENED = "deviation.opened"
    EVENT_RECEIVED = "event.received"
    LOT_CONSUMED = "lot.consumed"
    RECORD_CLOSED = "record.closed"
    REPEAT_UNSUCCESSFUL = "repeat.unsuccessful"
    RESULT_RECORDED = "result.recorded"
    STAGE_ENTERED = "stage.entered"
    STATUS_CHANGED = "status.changed"
    STEP_DEFERRED = "step.deferred"
    STEP_RESCHEDULED = "step.rescheduled"
    STEP_STARTED = "step.started"
    VISIT_COMPLETED = "visit.completed"
    VALUE_COMPUTED = "value.computed"
    OBSERVATION_RECORDED = "observation.recorded"
    SERIES_STOPPED = "series.stopped"
    STEP_DONE = "step.done"
    STEP_FAILED = "step.failed"
    DECISION_APPROVE = "decision.approve"
    DECISION_REJECT = "decision.reject"
    DECISION_RETRY = "decision.retry"
    DECISION_CONTINUE = "decision.continue"
    DECISION_EXCEPTIONAL_RELEASE = "decision.exceptional_release"
    DECISION_ABANDON = "decision.abandon"
    #: A physician's signed request for exceptional release of a deviation (not a decision).
    EXCEPTIONAL_RELEASE_REQUESTED = "exceptional_release.requested"
    #: QA put a deviation on hold pending an investigation (it stays open).
    DEVIATION_ON_HOLD = "deviation.on_hold"
    DECISION_ACCEPT_CONDITIONALLY = "decision.accept_conditionally"
    DECISION_CONDITIONS_MET = "decision.conditions_met"
    DECISION_REWORK = "decision.rework"
    #: The engine went back to a step to rework the batch from there.
    REWORK_STARTED = "rework.started"

    @classmethod
    def step_ended(cls, state: StepState) -> AuditAction:
        """`step.done` or `step.failed`."""
        return cls(f"step.{state.value}")

    @classmethod
    def decision(cls, action: DecisionAction) -> AuditAction:
        """`decision.<action>`."""
        return cls(f"decision.{action.value}")
