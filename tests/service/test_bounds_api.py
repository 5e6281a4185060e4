"""The API refuses oversized free text with 422 naming the field, before Temporal sees it."""

from __future__ import annotations

from typing import Any

from tests.products import FLAKY_BOOKING
from tests.service.support import Client, key, make_token, order_json
from vein2vein.settings import Settings
from workflows.bounds import MAX_ENTRIES, MAX_TEXT


def _report(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"ev-{key()}",
        "batch_id": "B-0123456789",
        "step": "collection",
        "type": "collected",
        "occurred_at": "2026-12-01T08:00:00Z",
        **fields,
    }


async def test_event_data_and_free_text_are_bounded(
    client: Client, service_settings: Settings
) -> None:
    token = make_token(service_settings, "mes-bounds", ["mes", "custody"])
    http = await client(token=token)

    async def where(body: dict[str, Any]) -> list[list[Any]]:
        r = await http.post("/api/events", json=body, headers={"Idempotency-Key": key()})
        assert r.status_code == 422, r.text
        return [e["loc"] for e in r.json()["detail"]]

    assert await where(_report(data={"note": "x" * (MAX_TEXT + 1)})) == [["body", "data", "note"]]
    many = {f"k{i}": "v" for i in range(MAX_ENTRIES + 1)}
    assert await where(_report(data=many)) == [["body", "data"]]
    assert await where(_report(lots=["L"] * (MAX_ENTRIES + 1))) == [["body", "lots"]]
    long_unit = {"cd19": {"value": 1, "unit": "u" * 200}}
    assert await where(_report(results=long_unit)) == [["body", "results", "cd19", "unit"]]
    custody = {
        "from_party": "courier",
        "to_party": "manufacturing",
        "scanned_coi": "C",
        "container_label": "L",
        "location": "x" * (MAX_TEXT + 1),
    }
    assert await where(_report(type="custody", custody=custody)) == [
        ["body", "custody", "location"]
    ]


async def test_order_sites_and_options_are_bounded(
    client: Client, service_settings: Settings
) -> None:
    token = make_token(service_settings, "his-bounds", ["orders"])
    http = await client(token=token)
    order = order_json()
    order["options"] = {f"o{i}": "c" for i in range(MAX_ENTRIES + 1)}
    r = await http.post(
        "/api/batches",
        json={"product": FLAKY_BOOKING.product, "order": order},
        headers={"Idempotency-Key": key()},
    )
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "order", "options"]]
