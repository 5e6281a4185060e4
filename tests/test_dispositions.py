"""QA classifies a deviation when disposing of it (minor, major, critical); a major or critical
one names its CAPA. The classification and CAPA stay on the deviation, in the record and EBR."""

from __future__ import annotations

import pytest

from records.ebr_html import render_html
from tests.harness import Harness
from workflows.model import AuditAction, BatchStatus, DecisionAction, Role, Severity


@pytest.mark.requirement("PROD-DEVIATION", "A11-9")
async def test_a_major_deviation_is_disposed_of_only_with_its_capa(harness: Harness) -> None:
    handle, dev = await harness.with_oos_dose()
    refused = await harness.refusal(
        handle, dev.deviation_id, DecisionAction.ABANDON, reason="dose", severity=Severity.MAJOR
    )
    assert "a major deviation's disposition names its CAPA" in refused
    assert (await harness.record(handle)).deviations[0].is_open

    await harness.decide(
        handle,
        dev.deviation_id,
        DecisionAction.ABANDON,
        reason="dose above the maximum",
        severity=Severity.MAJOR,
        capa="CAPA-2026-014",
    )
    rec = await harness.finish(handle)
    (disposed,) = rec.deviations
    assert (disposed.severity, disposed.capa) == (Severity.MAJOR, "CAPA-2026-014")
    html = render_html(rec)
    assert "<th>Classification</th>" in html and "CAPA-2026-014" in html


async def test_a_minor_deviation_needs_no_capa_and_unclassified_stays_allowed(
    harness: Harness,
) -> None:
    handle, dev = await harness.with_exhausted_booking()
    await harness.decide(
        handle, dev.deviation_id, DecisionAction.RETRY, reason="MES back", severity=Severity.MINOR
    )
    rec = await harness.record(handle)
    assert (rec.deviations[0].severity, rec.deviations[0].capa) == (Severity.MINOR, None)
    await handle.cancel()
    await harness.finish(handle)


@pytest.mark.requirement("PROD-DEVIATION", "A11-9")
async def test_qa_holds_a_deviation_for_its_investigation_then_disposes_of_it(
    harness: Harness,
) -> None:
    handle, opened = await harness.with_oos_dose()
    dev = opened.deviation_id
    for kw, refusal in [
        ({"reason": " "}, "a hold names the investigation it waits for"),
        ({"reason": "INV-12", "role": Role.OPERATOR}, "may not dispose of a deviation"),
    ]:
        assert refusal in await harness.refusal(handle, dev, DecisionAction.ON_HOLD, **kw)

    await harness.decide(handle, dev, DecisionAction.ON_HOLD, reason="investigation INV-12")
    held = await harness.record(handle)
    (deviation,) = held.deviations
    assert deviation.is_open and deviation.on_hold == "investigation INV-12"
    assert held.status == BatchStatus.QUARANTINED, "nothing moves while it is held"
    assert held.audit[-1].action == AuditAction.DEVIATION_ON_HOLD

    await harness.decide(handle, dev, DecisionAction.ABANDON, reason="INV-12 closed: overdose")
    rec = await harness.finish(handle)
    assert rec.deviations[0].disposition == DecisionAction.ABANDON
    assert "investigation INV-12" in render_html(rec)
