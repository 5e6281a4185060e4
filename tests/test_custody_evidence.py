"""Temperature evidence at custody handoffs is required and judged on what it says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from activities import Fault
from tests.harness import Harness
from tests.products import FLAKY_BOOKING
from workflows import celsius
from workflows.client import report_event
from workflows.judgement import judge_temperature
from workflows.model import (
    BatchStatus,
    CustodyReport,
    DecisionAction,
    Deviation,
    DeviationKind,
    ExternalEvent,
    TemperatureSummary,
)

COLD = celsius(2, 8, tolerate_minutes=30)


def _summary(**kw: Any) -> TemperatureSummary:
    fields: dict[str, Any] = {
        "min_c": 3.0,
        "max_c": 7.0,
        "logger_id": "LOG-1",
        "readings": 600,
        "interval_seconds": 60,
    }
    fields.update(kw)
    return TemperatureSummary(**fields)


async def _deviation(harness: Harness, handle: WorkflowHandle[Any, Any]) -> Deviation:
    rec = await harness.advance_until(handle, lambda r: bool(r.deviations), what="deviation")
    assert rec.status == BatchStatus.QUARANTINED
    return rec.deviations[0]


@pytest.mark.requirement("C1271-265", "PROD-DEVIATION")
async def test_missing_temperature_summary_opens_a_deviation(harness: Harness) -> None:
    handle = await harness.start(
        FLAKY_BOOKING, faults=[Fault(kind="no_temperature_summary", step="receipt")]
    )
    dev = await _deviation(harness, handle)
    assert dev.kind == DeviationKind.TEMPERATURE_EVIDENCE_MISSING and dev.step == "receipt"
    assert "no temperature summary" in dev.description
    rec = await harness.record(handle)
    assert rec.custody[-1].temperature is None
    await harness.decide(handle, dev.deviation_id, DecisionAction.ABANDON, reason="no evidence")
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ABANDONED


@pytest.mark.requirement("C1271-265")
async def test_a_leg_never_in_range_is_an_excursion_whatever_its_minutes(
    harness: Harness,
) -> None:
    handle = await harness.start(
        FLAKY_BOOKING, faults=[Fault(kind="never_in_range", step="receipt")]
    )
    dev = await _deviation(harness, handle)
    assert dev.kind == DeviationKind.TEMPERATURE_EXCURSION
    assert "never within 2..8 C" in dev.description


@pytest.mark.requirement("P11-10f", "P11-10h")
async def test_incomplete_evidence_is_refused_and_changes_nothing(harness: Harness) -> None:
    handle = await harness.start(FLAKY_BOOKING, faults=[Fault(kind="silent", step="receipt")])
    rec = await harness.until_waiting(handle, "event custody at receipt")
    report = CustodyReport(
        from_party="courier",
        to_party="manufacturing",
        scanned_coi=rec.coi or "",
        container_label=f"{rec.coi}-APH",
        location="dock",
        temperature=TemperatureSummary(min_c=3, max_c=6),
    )
    event = ExternalEvent(
        event_id=f"{handle.id}:bare",
        batch_id=handle.id,
        step="receipt",
        type="custody",
        reporter="courier/driver",
        occurred_at=datetime.now(UTC),
        custody=report,
    )
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await report_event(harness.client, event)
    cause = str(info.value.cause)
    assert "no logger or device id" in cause and "no readings" in cause
    after = await harness.record(handle)
    assert after.version == rec.version and not after.custody
    complete = report.model_copy(update={"temperature": _summary(min_c=3.5, max_c=6.5)})
    await report_event(
        harness.client,
        event.model_copy(update={"event_id": f"{handle.id}:logged", "custody": complete}),
    )
    rec = await harness.until_waiting(handle, "decision at approve")
    assert not rec.deviations and rec.custody[-1].temperature == complete.temperature
    await handle.cancel()
    await harness.finish(handle)


def test_summaries_that_cannot_be_true_are_refused_at_the_boundary() -> None:
    for bad in (
        {"minutes_outside_range": -5},
        {"min_c": 9, "max_c": 3},
        {"max_c": float("nan")},
        {"min_c": float("-inf")},
        {"interval_seconds": 0},
    ):
        with pytest.raises(ValidationError):
            _summary(**bad)
    assert _summary(readings=10, interval_seconds=60, minutes_outside_range=11).evidence_problems()


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (_summary(), None),
        (_summary(max_c=9.5, minutes_outside_range=20), None),  # short, within tolerance
        (_summary(max_c=30, minutes_outside_range=0), DeviationKind.TEMPERATURE_EXCURSION),
        (_summary(max_c=30, minutes_outside_range=45), DeviationKind.TEMPERATURE_EXCURSION),
        (
            _summary(min_c=12, max_c=14, minutes_outside_range=5),
            DeviationKind.TEMPERATURE_EXCURSION,
        ),
        (
            _summary(min_c=-3, max_c=-1, minutes_outside_range=1),
            DeviationKind.TEMPERATURE_EXCURSION,
        ),
        (None, DeviationKind.TEMPERATURE_EVIDENCE_MISSING),
        (_summary(logger_id=None), DeviationKind.TEMPERATURE_EVIDENCE_MISSING),
        (_summary(readings=0), DeviationKind.TEMPERATURE_EVIDENCE_MISSING),
    ],
)
def test_excursions_are_judged_on_min_max_and_minutes(
    summary: TemperatureSummary | None, expected: DeviationKind | None
) -> None:
    finding = judge_temperature(COLD, summary)
    assert (finding.kind if finding else None) == expected
