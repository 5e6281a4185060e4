"""A patient's pseudonym never reaches Temporal IDs, history, search attributes, the service's
tables or the logs when a batch is started through the API."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.harness import Harness
from tests.products import FLAKY_BOOKING
from tests.service.support import Client, key, make_token, order_json
from vein2vein.settings import Settings


async def test_pseudonym_stays_out_of_temporal_tables_and_logs(
    client: Client,
    service_settings: Settings,
    harness: Harness,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pseudonym = "PSN-PRIVACY-7F3K9Q"
    http = await client(token=make_token(service_settings, "his-p", ["orders"]))
    caplog.set_level(logging.DEBUG)
    body = {"product": FLAKY_BOOKING.product, "order": order_json(patient_pseudonym=pseudonym)}
    r = await http.post("/api/batches", json=body, headers={"Idempotency-Key": key()})
    assert r.status_code == 201
    assert pseudonym not in r.text
    batch_id = r.json()["batch_id"]
    handle = harness.client.get_workflow_handle(batch_id)
    await harness.advance_until(handle, lambda rec: rec.coi is not None)
    history = (await handle.fetch_history()).to_json()
    assert pseudonym not in history and pseudonym not in batch_id
    desc = await handle.describe()
    assert pseudonym not in repr(desc.raw_description.workflow_execution_info.search_attributes)
    db = Path(service_settings.ledger.removeprefix("sqlite:///"))
    for part in (db, db.with_name(db.name + "-wal")):
        if part.exists():
            assert pseudonym.encode() not in part.read_bytes(), part
    assert pseudonym not in caplog.text


async def test_validation_errors_do_not_echo_passwords_or_pseudonyms(
    client: Client, service_settings: Settings
) -> None:
    http = await client(token=make_token(service_settings, "his-q", ["orders"]))
    order = order_json(patient_pseudonym="PSN-ECHO-ME-123")
    del order["order_id"]
    r = await http.post(
        "/api/batches",
        json={"product": FLAKY_BOOKING.product, "order": order},
        headers={"Idempotency-Key": key()},
    )
    assert r.status_code == 422 and "order_id" in r.text
    assert "PSN-ECHO-ME-123" not in r.text
