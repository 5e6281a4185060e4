"""Lot genealogy, the batch record export and FHIR over HTTP, read from the ledger."""

from __future__ import annotations

from records.reservations import Reservations
from tests.harness import Harness
from tests.products import FLAKY_BOOKING
from tests.records.test_fhir import r5_problems
from tests.service.support import Client, make_token
from vein2vein.settings import Settings
from workflows.model import DecisionAction


async def test_where_used_ebr_and_fhir(
    client: Client, service_settings: Settings, harness: Harness
) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    await harness.decide(handle, "approve", DecisionAction.APPROVE)
    rec = await harness.finish(handle)
    http = await client(token=make_token(service_settings, "auditor", ["read"]))

    ebr = await http.get(f"/api/batches/{handle.id}/ebr")
    assert ebr.status_code == 200 and "Review by exception" in ebr.text and rec.coi in ebr.text
    as_json = await http.get(f"/api/batches/{handle.id}/ebr", params={"format": "json"})
    assert (
        as_json.status_code == 200
        and handle.id in as_json.text
        and "review_by_exception" in as_json.text
    )
    fhir = await http.get(f"/api/batches/{handle.id}/fhir")
    assert fhir.status_code == 200
    assert fhir.json()["resourceType"] == "BiologicallyDerivedProduct"
    assert r5_problems(fhir.json()) == []
    assert fhir.json()["productCategory"]["code"] == "cells"  # FLAKY_BOOKING declares it
    dispense_url = f"/api/batches/{handle.id}/fhir/dispense"
    dispense = await http.post(dispense_url, json={"patient_pseudonym": "PSN-7F3A9C21"})
    assert dispense.status_code == 200, dispense.text
    assert dispense.json()["resourceType"] == "BiologicallyDerivedProductDispense"
    assert r5_problems(dispense.json()) == []
    assert dispense.json()["patient"]["identifier"]["value"] == "PSN-7F3A9C21"
    assert dispense.json()["product"]["reference"] == f"BiologicallyDerivedProduct/{handle.id}"
    named = await http.post(dispense_url, json={"patient_pseudonym": "Jane Doe"})
    assert named.status_code == 422
    unknown = await http.post(
        "/api/batches/B-NOTHERE00/fhir/dispense", json={"patient_pseudonym": "PSN-7F3A9C21"}
    )
    assert unknown.status_code == 404

    uses = await http.get("/api/lots/NO-SUCH-LOT/where-used")
    assert uses.status_code == 200 and uses.json() == []
    missing = await http.get("/api/batches/B-NOTHERE00/ebr")
    assert missing.status_code == 404
    bad = await http.get("/api/lots/bad lot!/where-used")
    assert bad.status_code == 422
    anonymous = await (await client()).get(f"/api/batches/{handle.id}/ebr")
    assert anonymous.status_code == 401


async def test_a_running_batch_exports_its_record_marked_in_progress(
    client: Client, service_settings: Settings, harness: Harness
) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    http = await client(token=make_token(service_settings, "auditor", ["read"]))

    running = await http.get(f"/api/batches/{handle.id}/ebr")
    assert running.status_code == 200
    assert f"Electronic batch record {handle.id} (in progress)" in running.text
    assert 'data-state="in_progress"' in running.text and "Review by exception" in running.text
    as_json = await http.get(f"/api/batches/{handle.id}/ebr", params={"format": "json"})
    assert as_json.status_code == 200 and as_json.json()["record_state"] == "in_progress"
    assert as_json.json()["batch_record"]["batch_id"] == handle.id

    await harness.decide(handle, "approve", DecisionAction.APPROVE)
    await harness.finish(handle)
    closed = await http.get(f"/api/batches/{handle.id}/ebr")
    assert closed.status_code == 200 and 'data-state="final"' in closed.text
    assert "(in progress)" not in closed.text
    closed_json = await http.get(f"/api/batches/{handle.id}/ebr", params={"format": "json"})
    assert closed_json.json()["record_state"] == "final"


async def test_capacity_view_shows_the_lane_a_batch_booked(
    client: Client, service_settings: Settings, harness: Harness
) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    booked = Reservations(harness.ledger.engine).calendar("MFG-EAST", 4)
    slot_day = booked.bookings[f"{handle.id}:slot"].start.date().isoformat()
    http = await client(token=make_token(service_settings, "planner", ["read"]))
    days = await http.get("/api/capacity/MFG-EAST", params={"start": slot_day, "days": 2})
    assert days.status_code == 200
    first = days.json()[0]
    assert first["day"] == slot_day and first["lanes"] == 4
    assert handle.id in first["booked"].values() and first["free"] == 4 - len(first["booked"])
    assert (await http.get("/api/capacity/NO-SUCH-SITE")).status_code == 404
    too_long = await http.get("/api/capacity/MFG-EAST", params={"days": 1000})
    assert too_long.status_code == 422
    await harness.decide(handle, "approve", DecisionAction.APPROVE)
    await harness.finish(handle)
