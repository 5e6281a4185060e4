"""Temperature series sent with custody reports: the service stores them, the workflow gets the
summary computed from them (never the readings), and a bad series changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from temporalio.client import WorkflowHandle

from records.temperature import TemperatureSeries
from records.temperature_store import TemperatureStore
from tests.harness import Harness
from tests.service.support import Client, People, key, make_token, start_via_api
from vein2vein.settings import Settings
from workflows.model import Role

T0 = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)


def _readings(values: list[float]) -> list[list[Any]]:
    return [[(T0 + timedelta(minutes=i)).isoformat(), v] for i, v in enumerate(values)]


def _report(rec: Any, series: dict[str, Any], **custody: Any) -> dict[str, Any]:
    return {
        "event_id": f"ev-{key()}",
        "batch_id": rec.batch_id,
        "step": "receipt",
        "type": "custody",
        "occurred_at": datetime.now(UTC).isoformat(),
        "custody": {
            "from_party": "courier",
            "to_party": "manufacturing",
            "scanned_coi": rec.coi,
            "container_label": f"{rec.coi}-APH",
            "location": "MFG-EAST dock 2",
            **custody,
        },
        "temperature_series": series,
    }


async def test_a_series_is_stored_and_only_its_summary_reaches_the_workflow(
    client: Client, service_settings: Settings, harness: Harness, app: FastAPI, people: People
) -> None:
    orders = await client(token=make_token(service_settings, "his-t", ["orders"]))
    batch_id = await start_via_api(orders)
    courier = await client(token=make_token(service_settings, "courier-t", ["custody"]))
    handle: WorkflowHandle[Any, Any] = harness.client.get_workflow_handle(batch_id)
    rec = await harness.until_waiting(handle, "custody at receipt", step=timedelta(minutes=30))
    store: TemperatureStore = app.state.ctx.temperature
    values = [4.1, 4.3, 5.0, 5.2, 4.8, 4.4]
    good = {"logger_id": "TT-42", "interval_seconds": 60, "readings": _readings(values)}
    # The simulated courier already stored its own logger's series for the leg.
    before = store.for_batch(batch_id)

    async def post(body: dict[str, Any] | str) -> tuple[int, str]:
        headers = {"Idempotency-Key": key(), "Content-Type": "application/json"}
        content = body if isinstance(body, str) else json.dumps(body)
        r = await courier.post("/api/events", content=content, headers=headers)
        return r.status_code, r.text

    # Refused, each with its reason, and nothing stored nor sent to the workflow.
    empty = _report(rec, {**good, "readings": []})
    unordered = _report(rec, {**good, "readings": _readings(values)[::-1]})
    nan = json.dumps(_report(rec, good)).replace("5.2", "NaN")
    lying = _report(rec, good, temperature={"min_c": 4.1, "max_c": 5.0})
    for body, why in (
        (empty, "at least 1"),
        (unordered, "time order"),
        (nan, "finite number"),
        (lying, "max_c 5 but the readings give 5.2"),
    ):
        code, text = await post(body)
        assert code == 422 and why in text, (code, text)
    assert store.for_batch(batch_id) == before
    assert (await harness.record(handle)).custody == []

    expected = TemperatureSeries(batch_id=batch_id, step="receipt", **good)
    agreeing = {"min_c": 4.1, "max_c": 5.2, "minutes_outside_range": 0}
    code, text = await post(_report(rec, good, temperature=agreeing))
    assert code == 200, text
    (leg,) = (await harness.record(handle)).custody
    t = leg.temperature
    assert t is not None and t.series_sha256 == expected.sha256()
    assert (t.min_c, t.max_c, t.minutes_outside_range) == (4.1, 5.2, 0)
    assert (t.logger_id, t.readings, t.interval_seconds) == ("TT-42", 6, 60)
    assert store.get(expected.sha256()) == expected
    stored = {s.sha256 for s in store.for_batch(batch_id)}
    assert stored == {s.sha256 for s in before} | {expected.sha256()}

    # The console's batch page shows the leg's history, drawn from the stored series.
    qa = await client(user=people.make(Role.QA))
    page = (await qa.get(f"/console/batches/{batch_id}")).text
    history = page[page.index('id="temperature"') :]
    for shown in ("2..8 °C", "4.1 / 5.2 °C", "TT-42", "60 s", expected.sha256(), "<svg"):
        assert shown in history, shown
    assert "6 readings (every reading)" in history
