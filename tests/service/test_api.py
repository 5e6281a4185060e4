"""The integration API against a real Temporal server and worker: orders, events, status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from tests.harness import Harness
from tests.products import FLAKY_BOOKING
from tests.service.support import Client, People, key, make_token, order_json, start_via_api
from vein2vein.settings import Settings
from workflows.model import Role


def _token(settings: Settings, client: str, *scopes: str) -> str:
    return make_token(settings, client, scopes)


async def test_start_batch_is_idempotent_and_one_per_order(
    client: Client, service_settings: Settings, harness: Harness
) -> None:
    http = await client(token=_token(service_settings, "his-orders", "orders", "read"))
    body = {"product": FLAKY_BOOKING.product, "order": order_json()}
    k = key()
    first = await http.post("/api/batches", json=body, headers={"Idempotency-Key": k})
    assert first.status_code == 201, first.text
    batch_id = first.json()["batch_id"]
    again = await http.post("/api/batches", json=body, headers={"Idempotency-Key": k})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await http.post("/api/batches", json=body, headers={"Idempotency-Key": key()})
    assert other.status_code == 409 and batch_id in other.json()["detail"]
    changed = {"product": FLAKY_BOOKING.product, "order": order_json()}
    reused = await http.post("/api/batches", json=changed, headers={"Idempotency-Key": k})
    assert reused.status_code == 422 and "different request" in reused.json()["detail"]
    status = await http.get(f"/api/batches/{batch_id}")
    assert status.status_code == 200
    assert status.json()["product"] == FLAKY_BOOKING.product
    desc = await harness.client.get_workflow_handle(batch_id).describe()
    assert desc.workflow_type == FLAKY_BOOKING.product


async def test_start_refuses_unknown_product_bad_sites_and_malformed_orders(
    client: Client, people: People
) -> None:
    http = await client(user=people.make(Role.OPERATOR))

    async def post(body: Any, k: str | None = None) -> tuple[int, Any]:
        r = await http.post("/api/batches", json=body, headers={"Idempotency-Key": k or key()})
        return r.status_code, r.json()

    code, body = await post({"product": "no-such-product", "order": order_json()})
    assert code == 422 and "unknown product 'no-such-product'" in body["detail"]
    code, body = await post({"product": FLAKY_BOOKING.product, "order": order_json(courier="X")})
    assert code == 422 and "courier 'X' is not a configured site" in body["detail"]
    wrong_kind = order_json(treatment_centre="MFG-EAST")
    code, body = await post({"product": FLAKY_BOOKING.product, "order": wrong_kind})
    assert code == 422 and "is a manufacturing_site" in body["detail"]
    code, _ = await post({"product": FLAKY_BOOKING.product, "order": {"order_id": "x"}})
    assert code == 422
    code, _ = await post({"product": FLAKY_BOOKING.product, "order": order_json(), "extra": 1})
    assert code == 422
    r = await http.post("/api/batches", content=b"{not json", headers={"Idempotency-Key": key()})
    assert r.status_code == 422
    r = await http.post("/api/batches", json={"product": FLAKY_BOOKING.product})
    assert r.status_code == 422  # no Idempotency-Key


async def _at_receipt(harness: Harness, batch_id: str) -> Any:
    handle: WorkflowHandle[Any, Any] = harness.client.get_workflow_handle(batch_id)
    return await harness.until_waiting(
        handle, "event custody at receipt", step=timedelta(minutes=30)
    )


def _custody(rec: Any, event_id: str, *, label: str | None = None, **kw: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "batch_id": rec.batch_id,
        "step": "receipt",
        "type": "custody",
        "occurred_at": datetime.now(UTC).isoformat(),
        "custody": {
            "from_party": "courier",
            "to_party": "manufacturing",
            "scanned_coi": rec.coi,
            "container_label": label or f"{rec.coi}-APH",
            "location": "MFG-EAST dock 2",
            "temperature": {
                "min_c": 3.1,
                "max_c": 6.4,
                "logger_id": "LOG-API-1",
                "readings": 600,
                "interval_seconds": 60,
            },
        },
        **kw,
    }


async def test_courier_reports_custody_once_and_out_of_order_is_refused(
    client: Client, service_settings: Settings, harness: Harness
) -> None:
    orders = await client(token=_token(service_settings, "his", "orders"))
    batch_id = await start_via_api(orders)
    courier = await client(token=_token(service_settings, "cryo-courier", "custody"))
    lims = await client(token=_token(service_settings, "lims-main", "results"))
    rec = await _at_receipt(harness, batch_id)
    early = {**_custody(rec, "ev-early"), "step": "expansion", "type": "mes.operation_done"}
    r = await lims.post("/api/events", json=early, headers={"Idempotency-Key": key()})
    assert r.status_code == 403, "a LIMS token may not report MES events"
    mes = await client(token=_token(service_settings, "mes-main", "mes"))
    r = await mes.post("/api/events", json=early, headers={"Idempotency-Key": key()})
    assert r.status_code == 409
    assert f"batch {batch_id} is not waiting for a report at 'expansion'" in r.json()["detail"]
    before = (await courier.get(f"/api/batches/{batch_id}")).status_code
    assert before == 403, "a courier token cannot read batches"
    k = key()
    event = _custody(rec, f"ev-{k}")
    r = await courier.post("/api/events", json=event, headers={"Idempotency-Key": k})
    assert r.status_code == 200, r.text
    assert r.json() == {"event_id": f"ev-{k}", "duplicate": False}
    again = await courier.post("/api/events", json=event, headers={"Idempotency-Key": k})
    assert again.json() == r.json() and again.headers["Idempotent-Replayed"] == "true"
    after = await harness.record(harness.client.get_workflow_handle(batch_id))
    assert [c.step for c in after.custody] == ["receipt"]
    assert after.custody[0].temperature is not None
    received = [a for a in after.audit if a.action == "event.received"]
    assert [a.actor for a in received] == ["cryo-courier"], "the reporter is the token's client"


async def test_events_name_their_reporter_and_unknown_batches_are_404(
    client: Client, service_settings: Settings
) -> None:
    courier = await client(token=_token(service_settings, "courier-b", "custody"))
    fake = {
        "event_id": "e1",
        "batch_id": "B-NOSUCHBATCH",
        "step": "receipt",
        "type": "custody",
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    r = await courier.post("/api/events", json=fake, headers={"Idempotency-Key": key()})
    assert r.status_code == 404
    spoof = {**fake, "reporter": "someone-else"}
    r = await courier.post("/api/events", json=spoof, headers={"Idempotency-Key": key()})
    assert r.status_code == 403 and "reporter must be" in r.json()["detail"]
    r = await courier.post(
        "/api/events", json={**fake, "batch_id": "nope"}, headers={"Idempotency-Key": key()}
    )
    assert r.status_code == 422
    r = await courier.post(
        "/api/events", json={**fake, "type": "mystery"}, headers={"Idempotency-Key": key()}
    )
    assert r.status_code == 403 and "no integration scope" in r.json()["detail"]


async def test_status_record_and_board_read_from_temporal(
    client: Client, service_settings: Settings, harness: Harness
) -> None:
    token = _token(service_settings, "his-reader", "orders", "read")
    http = await client(token=token)
    batch_id = await start_via_api(http)
    await _at_receipt(harness, batch_id)
    r = await http.get(f"/api/batches/{batch_id}/record")
    assert r.status_code == 200
    assert r.json()["batch_id"] == batch_id and len(r.json()["record_hash"]) == 64
    board = await http.get("/api/batches", params={"product": FLAKY_BOOKING.product})
    assert batch_id in [b["batch_id"] for b in board.json()]
    row = next(b for b in board.json() if b["batch_id"] == batch_id)
    assert row["status"] == "active" and row["next_deadline"] is not None
    assert [(a["kind"], a["target"], a["event"]) for a in row["awaiting"]] == [
        ("event", "receipt", "custody")
    ]
    assert row["awaiting"][0]["deadline"] == row["next_deadline"]
    assert [(c["name"], c["kind"]) for c in row["clocks"]] == [("receipt", "deadline")]
    assert row["clocks"][0]["remaining"] is not None
    none = await http.get("/api/batches", params={"site": "TC-SOUTH"})
    assert batch_id not in [b["batch_id"] for b in none.json()]
    held = await http.get("/api/batches", params={"status": "held"})
    assert batch_id not in [b["batch_id"] for b in held.json()]
    assert (await http.get("/api/batches/B-NOSUCHBATCH")).status_code == 404
    assert (await http.get("/api/batches/not-a-batch")).status_code == 422
    assert (await http.get("/api/batches", params={"product": "x' OR 1=1"})).status_code == 422
