"""Review by exception: everything in a batch record that departed from the plan.

QA reviews an electronic batch record by exception: what went as planned is evidence to keep,
what did not is what a reviewer must read first. This module decides what counts as an
exception, once, for every export.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from records.temperature import LegTemperature, temperature_legs
from vein2vein.readable import quantity, when
from workflows.model import BatchRecord, BatchStatus, CustodyEntry, StepState


class ExceptionKind(StrEnum):
    """Kinds of departure from plan, in the order a reviewer reads them."""

    ABANDONMENT = "abandonment"
    EXCEPTIONAL_RELEASE = "exceptional_release"
    DEVIATION = "deviation"
    OUT_OF_SPECIFICATION = "out_of_specification"
    UNVERIFIED_CUSTODY = "unverified_custody"
    TEMPERATURE_EVIDENCE_MISSING = "temperature_evidence_missing"
    TEMPERATURE_EXCURSION = "temperature_excursion"
    STEP_FAILED = "step_failed"


class ReviewItem(BaseModel):
    """One departure from plan, stated so that a reviewer needs nothing else to find it."""

    model_config = ConfigDict(frozen=True)

    kind: ExceptionKind
    reference: str
    summary: str
    open: bool = False


#: Statuses after which the record no longer changes.
_CLOSED = frozenset({BatchStatus.COMPLETED, BatchStatus.ABANDONED, BatchStatus.ENDED})


def is_final(record: BatchRecord) -> bool:
    """True once the batch has closed (completed, abandoned, ended): its record is final.
    Before that an export is an interim record of a batch in progress."""
    return record.finished or record.status in _CLOSED


def review_by_exception(
    record: BatchRecord, legs: Sequence[LegTemperature] | None = None, tz: str | None = None
) -> list[ReviewItem]:
    """Everything in `record` that departed from plan, most consequential first.

    `legs` are the custody legs judged against the pinned definition's temperature ranges
    (`records.temperature.temperature_legs`); without them the legs are judged with the ranges
    unknown, so any leg lacking complete evidence or reporting time outside range is listed.
    Summaries name moments in zone `tz` (default UTC) and values with their unit.
    """
    items = [
        *_abandonment(record),
        *_exceptional_release(record),
        *_deviations(record),
        *_out_of_specification(record),
        *_custody(record, tz),
        *_temperature(record, legs, tz),
        *_failed_steps(record, tz),
    ]
    order = list(ExceptionKind)
    return sorted(items, key=lambda item: order.index(item.kind))


def _abandonment(record: BatchRecord) -> list[ReviewItem]:
    if record.status is not BatchStatus.ABANDONED and not record.abandoned_reason:
        return []
    undone = ", ".join(record.compensations) or "none recorded"
    return [
        ReviewItem(
            kind=ExceptionKind.ABANDONMENT,
            reference=record.batch_id,
            summary=f"Batch abandoned: {record.abandoned_reason or 'no reason recorded'}."
            f" Compensations: {undone}.",
        )
    ]


def _exceptional_release(record: BatchRecord) -> list[ReviewItem]:
    if not record.exceptional_release:
        return []
    return [
        ReviewItem(
            kind=ExceptionKind.EXCEPTIONAL_RELEASE,
            reference=record.batch_id,
            summary="Released under an exceptional release (out-of-specification product"
            " supplied at a physician's request).",
        )
    ]


def _deviations(record: BatchRecord) -> list[ReviewItem]:
    items = []
    for deviation in record.deviations:
        if deviation.is_open:
            outcome = "OPEN: awaiting disposition"
        else:
            outcome = (
                f"disposition {deviation.disposition} by {deviation.disposed_by or 'unknown'}"
                f": {deviation.reason or 'no reason recorded'}"
            )
        items.append(
            ReviewItem(
                kind=ExceptionKind.DEVIATION,
                reference=deviation.deviation_id,
                summary=f"{deviation.kind} at step {deviation.step}: {deviation.description}"
                f" ({outcome})",
                open=deviation.is_open,
            )
        )
    return items


def _out_of_specification(record: BatchRecord) -> list[ReviewItem]:
    return [
        ReviewItem(
            kind=ExceptionKind.OUT_OF_SPECIFICATION,
            reference=result.name,
            summary=f"{result.name} = {quantity(result.value, result.unit)}"
            + f" at step {result.step}, outside specification"
            + f" {result.limit or '(limit not recorded)'}",
        )
        for result in record.results.values()
        if result.in_specification is False
    ]


def _custody(record: BatchRecord, tz: str | None) -> list[ReviewItem]:
    items = []
    for entry in record.custody:
        handoff = f"{entry.step}: {entry.from_party} -> {entry.to_party} at {when(entry.at, tz)}"
        unverified = _unverified(entry)
        if unverified:
            items.append(
                ReviewItem(
                    kind=ExceptionKind.UNVERIFIED_CUSTODY,
                    reference=entry.step,
                    summary=f"{handoff}: {' and '.join(unverified)} not verified"
                    f" (scanned COI {entry.scanned_coi}, label {entry.container_label})",
                )
            )
    return items


def _temperature(
    record: BatchRecord, legs: Sequence[LegTemperature] | None, tz: str | None
) -> list[ReviewItem]:
    items = []
    for leg in temperature_legs(record) if legs is None else legs:
        handoff = f"{leg.step}: {leg.from_party} -> {leg.to_party} at {when(leg.at, tz)}"
        for problem in leg.problems:
            kind = (
                ExceptionKind.TEMPERATURE_EVIDENCE_MISSING
                if problem.evidence
                else ExceptionKind.TEMPERATURE_EXCURSION
            )
            items.append(
                ReviewItem(kind=kind, reference=leg.step, summary=f"{handoff}: {problem.text}")
            )
    return items


def _unverified(entry: CustodyEntry) -> list[str]:
    missing = []
    if not entry.identity_verified:
        missing.append("identity")
    if not entry.label_verified:
        missing.append("label")
    return missing


def _failed_steps(record: BatchRecord, tz: str | None) -> list[ReviewItem]:
    return [
        ReviewItem(
            kind=ExceptionKind.STEP_FAILED,
            reference=f"{run.step}#{run.iteration}",
            summary=f"Step {run.step} (stage {run.stage}, iteration {run.iteration}) failed"
            f" at {when(run.ended_at or run.started_at, tz)}",
        )
        for run in record.steps
        if run.state is StepState.FAILED
    ]
