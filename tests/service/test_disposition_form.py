"""The console's disposition form classifies the deviation and names its CAPA."""

from __future__ import annotations

from tests.harness import Harness
from tests.service.support import Client, People
from tests.service.test_console import _sign_via_form
from workflows.model import Role, Severity


async def test_qa_classifies_and_names_the_capa_in_the_form(
    client: Client, people: People, harness: Harness
) -> None:
    handle, opened = await harness.with_oos_dose()
    dev = opened.deviation_id
    qa = people.make(Role.QA, name="Cora Capa")
    http = await client(user=qa)
    form = (await http.get(f"/console/batches/{handle.id}/decide", params={"target": dev})).text
    assert 'name="severity"' in form and 'name="capa"' in form and 'value="on_hold"' in form
    fields = {"action": "abandon", "reason": "dose above maximum", "severity": "critical"}
    refused = await _sign_via_form(http, handle.id, dev, qa[1], **fields)
    assert "a critical deviation&#39;s disposition names its CAPA" in refused.text
    assert '<option value="critical" selected' in refused.text, "the choice survives"
    signed = await _sign_via_form(http, handle.id, dev, qa[1], **fields, capa="CAPA-77")
    assert signed.status_code == 303, signed.text
    rec = await harness.finish(handle)
    assert (rec.deviations[0].severity, rec.deviations[0].capa) == (Severity.CRITICAL, "CAPA-77")
    page = (await http.get(f"/console/batches/{handle.id}")).text
    assert "[critical, CAPA CAPA-77]" in page


async def test_the_form_offers_a_rework_to_the_steps_the_definition_allows(
    client: Client, people: People, harness: Harness
) -> None:
    from tests.products import REWORKED
    from tests.test_rework import _expanded, _report

    handle = await harness.start(REWORKED)
    await _expanded(harness, handle, 1)
    await _report(harness, handle, "formulation", 1, viability_pct=50.0)
    rec = await harness.advance_until(handle, lambda r: bool(r.open_deviations()), what="OOS")
    dev = rec.open_deviations()[0].deviation_id
    qa = people.make(Role.QA, name="Rhea Work")
    http = await client(user=qa)
    form = (await http.get(f"/console/batches/{handle.id}/decide", params={"target": dev})).text
    assert 'value="rework"' in form and '<option value="expansion">expansion</option>' in form
    assert 'name="conditions"' not in form, "an OOS result is not accepted on conditions"
    fields = {"action": "rework", "reason": "re-expand the retained fraction"}
    refused = await _sign_via_form(http, handle.id, dev, qa[1], **fields)
    assert "may be reworked from expansion, not None" in refused.text
    signed = await _sign_via_form(http, handle.id, dev, qa[1], **fields, rework_to="expansion")
    assert signed.status_code == 303, signed.text
    await harness.until_waiting(handle, "at expansion")
    page = (await http.get(f"/console/batches/{handle.id}")).text
    assert "reworked from expansion" in page
    await handle.cancel()
    await harness.finish(handle)
