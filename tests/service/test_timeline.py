"""The batch timeline SVG: bars per run, iterations, deviations, the current time, escaping;
and the batch page shows it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

from tests.harness import Harness
from tests.products import FLAKY_BOOKING
from tests.records.factories import T0, exceptional_record
from tests.service.support import Client, People
from vein2vein.service.timeline import timeline_svg
from workflows.model import BatchRecord, BatchStatus, Role, StepRun, StepState

SVG = "{http://www.w3.org/2000/svg}"


def _running() -> BatchRecord:
    record = exceptional_record("B-TIMELINE1")
    evil = "<script>alert(1)</script>"
    runs = [
        *record.steps,
        StepRun(step="expansion", stage="manufacture", iteration=1, state=StepState.FAILED,
                started_at=T0 + timedelta(days=4), ended_at=T0 + timedelta(days=5)),
        StepRun(step="expansion", stage="manufacture", iteration=2, state=StepState.ACTIVE,
                started_at=T0 + timedelta(days=5, hours=2)),
        StepRun(step=evil, stage=evil, state=StepState.DONE, started_at=T0 + timedelta(days=1),
                ended_at=T0 + timedelta(days=1, hours=1)),
    ]  # fmt: skip
    deviation = record.deviations[0].model_copy(
        update={"step": "expansion", "disposition": None, "description": evil}
    )
    return record.model_copy(
        update={"status": BatchStatus.ACTIVE, "steps": runs, "deviations": [deviation]}
    )


def test_steps_are_bars_per_run_with_iterations_deviations_and_now() -> None:
    now = T0 + timedelta(days=6)
    svg = timeline_svg(_running(), now, "Europe/Berlin")
    root = ET.fromstring(svg)  # well-formed, so nothing from the record broke out
    runs = root.findall(f"{SVG}rect[@class='run']")
    assert len(runs) == 6
    assert [r.get("data-state") for r in runs].count("failed") == 1
    titles = [r.findtext(f"{SVG}title") or "" for r in runs]
    assert any("expansion (stage manufacture) #2: active" in t and "still running" in t
               for t in titles)  # fmt: skip
    assert any("2025-03-05 09:00 CET" in t for t in titles)  # times in the named zone
    assert "#2" in [t.text for t in root.iter(f"{SVG}text")]
    marks = root.findall(f"{SVG}path[@class='deviation']")
    assert len(marks) == 1 and marks[0].get("data-open") == "true"
    assert "(open)" in (marks[0].findtext(f"{SVG}title") or "")
    now_line = root.find(f"{SVG}line[@id='timeline-now']")
    assert now_line is not None
    active = next(r for r in runs if r.get("data-state") == "active")
    bar_end = float(active.get("x", 0)) + float(active.get("width", 0))
    assert abs(float(now_line.get("x1", 0)) - bar_end) < 1  # the running bar reaches now
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_a_closed_batch_has_no_now_line_and_no_steps_say_so() -> None:
    closed = _running().model_copy(
        update={"status": BatchStatus.COMPLETED, "completed": True, "steps": exceptional_record(
            "B-TIMELINE1").steps}
    )  # fmt: skip
    svg = timeline_svg(closed, T0 + timedelta(days=90))
    assert 'id="timeline-now"' not in svg and "<svg" in svg
    empty = closed.model_copy(update={"steps": [], "status": BatchStatus.PLANNED})
    assert "No step has started yet." in timeline_svg(empty, T0)


async def test_the_batch_page_shows_the_timeline_picture(
    client: Client, people: People, harness: Harness
) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    http = await client(user=people.make(Role.QA))
    page = await http.get(f"/console/batches/{handle.id}")
    assert page.status_code == 200
    start = page.text.index('<svg xmlns="http://www.w3.org/2000/svg" id="timeline-chart"')
    root = ET.fromstring(page.text[start : page.text.index("</svg>", start) + 6])
    steps = {t.text for t in root.iter(f"{SVG}text")}
    assert {"only", "allocate_coi", "book_slot"} <= steps
    assert root.find(f"{SVG}line[@id='timeline-now']") is not None
