"""Repeated observations and dose series: every value kept with its time and judged; a
breach or a missed occurrence does not stop the schedule; a series may be stopped early."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities import Fault
from records.ebr_html import render_html
from tests.harness import Harness
from tests.products import OBSERVED
from workflows import DefinitionError, Role, call, days, gate, hours, minutes, process, series
from workflows import stage as stage_
from workflows.client import report_event
from workflows.model import BatchStatus, DeviationKind, ExternalEvent


@pytest.fixture
def graded(harness: Harness) -> Iterator[Harness]:
    with harness.simulating("crs_grade", nominal=1.0, failing=3.0, unit="grade"):
        yield harness


async def test_each_observation_is_kept_and_a_breach_does_not_stop_the_schedule(
    graded: Harness,
) -> None:
    handle = await graded.start(
        OBSERVED,
        faults=[
            Fault(kind="oos", result="crs_grade", times=1),
            Fault(kind="silent", step="crs_monitoring", times=1),
        ],
    )
    await graded.until_waiting(handle, "event centre.crs_graded at crs_monitoring")
    stop = ExternalEvent(
        event_id=f"stop-crs-{handle.id}",
        batch_id=handle.id,
        step="crs_monitoring",
        type="centre.crs_graded",
        reporter="TC-NORTH/physician",
        occurred_at=await graded.env.get_current_time(),
        outcome="stopped",
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await report_event(graded.client, stop)
    assert "may not be stopped early" in str(refused.value.cause)
    rec = await graded.advance_until(
        handle, lambda r: len(r.observations) == 4, what="four grades", step=timedelta(hours=6)
    )
    grades = [o for o in rec.observations if o.name == "crs_grade"]
    assert [o.occurrence for o in grades] == [2, 3, 4, 5]
    assert [o.in_specification for o in grades] == [False, True, True, True]
    assert all(b.at - a.at >= timedelta(hours=12) for a, b in pairwise(grades))
    kinds = [(d.kind, d.blocking) for d in rec.deviations]
    assert kinds == [
        (DeviationKind.OCCURRENCE_MISSED, False),
        (DeviationKind.OUT_OF_SPECIFICATION, False),
    ]
    assert rec.deviations[1].results == ("crs_grade",)
    page = render_html(rec)
    assert '<section id="observations"><h2>Observations</h2>' in page
    assert page.count("crs_grade") >= 4


async def test_a_dose_series_stopped_early_leaves_no_missed_doses(graded: Harness) -> None:
    handle = await graded.start(OBSERVED, faults=[Fault(kind="silent", step="il2_doses", times=1)])
    await graded.until_waiting(handle, "event centre.dose_given at il2_doses")
    now = await graded.env.get_current_time()
    await report_event(
        graded.client,
        ExternalEvent(
            event_id="stop-il2-1",
            batch_id=handle.id,
            step="il2_doses",
            type="centre.dose_given",
            reporter="TC-NORTH/physician",
            occurred_at=now,
            outcome="stopped",
            data={"reason": "capillary leak"},
        ),
    )
    rec = await graded.until_waiting(handle, "decision at approve")
    assert not rec.deviations
    stopped = next(e for e in rec.audit if e.action == "series.stopped")
    assert stopped.new_value == "after 0 of 6" and stopped.reason == "capillary leak"
    assert rec.status == BatchStatus.ACTIVE


def test_a_series_whose_windows_overlap_does_not_compile() -> None:
    with pytest.raises(DefinitionError, match="must end before the next is due"):
        process(
            "test-overlap",
            version="1",
            title="t",
            specification={},
            stages=[
                stage_(
                    "s",
                    series(
                        "doses",
                        "centre.dose_given",
                        count=3,
                        every=hours(8),
                        window=days(1),
                        ask=call("schedule_infusion", timeout=minutes(1), attempts=2),
                    ),
                    gate("g", roles=(Role.QA,), meaning="ok"),
                )
            ],
        )
