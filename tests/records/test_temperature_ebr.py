"""Each custody leg's temperature history in the batch record: HTML, JSON and review."""

from __future__ import annotations

import json
from datetime import timedelta

from records import ExceptionKind, render_html, render_json, review_by_exception
from records.temperature import TemperatureSeries, summarise, temperature_legs
from records.temperature_store import TemperatureStore
from tests.records.factories import T0, exceptional_record
from workflows.language import celsius
from workflows.model import CustodyEntry

BATCH = "B-EBRTEMP0001"
COLD = celsius(2, 8, tolerate_minutes=30)


def _leg(step: str, **fields: object) -> CustodyEntry:
    base: dict[str, object] = {
        "step": step,
        "from_party": "courier",
        "to_party": "MS-Leiden",
        "at": T0 + timedelta(hours=20),
        "location": "dock",
        "container_label": "BAG-1",
        "scanned_coi": "COI-0000451X",
        "identity_verified": True,
        "label_verified": True,
    }
    return CustodyEntry.model_validate({**base, **fields})


def test_batch_record_shows_each_legs_history_and_flags_missing_evidence(
    ledger_url: str,
) -> None:
    values = [4.0, 4.5, 12.5, 5.0, 5.5]
    series = TemperatureSeries(
        batch_id=BATCH,
        step="ship_to_site",
        logger_id="LOG-EBR-1",
        interval_seconds=600,
        readings=[(T0 + timedelta(minutes=10 * i), v) for i, v in enumerate(values)],
    )
    summary = summarise(series, COLD)
    record = exceptional_record(BATCH).model_copy(
        update={
            "custody": [
                _leg("ship_to_site", temperature=summary),
                _leg("return_to_centre"),
                _leg("bedside"),
            ]
        }
    )
    store = TemperatureStore(ledger_url)
    try:
        store.create_schema()
        store.put(series)
        ranges = {"ship_to_site": COLD, "return_to_centre": COLD}
        legs = temperature_legs(record, ranges, store.get)
    finally:
        store.close()
    assert legs[0].series == series and not legs[0].problems  # 10 min outside, 30 tolerated
    assert [p.text for p in legs[1].problems] == ["no temperature evidence"]
    assert legs[2].problems == ()  # its handoff declares no range

    page = render_html(record, legs=legs)
    history = page[page.index('id="temperature-history"') :]
    for shown in (
        "2..8 °C (tolerates 30 min outside)",
        "4 / 12.5 °C",
        "LOG-EBR-1",
        "600 s",
        series.sha256(),
        "<svg",
        "5 readings (every reading)",
        '<td class="bad">12.5</td>',
        "no temperature evidence",
        "none required",
    ):
        assert shown in history, shown

    review = review_by_exception(record, legs)
    missing = [i for i in review if i.kind is ExceptionKind.TEMPERATURE_EVIDENCE_MISSING]
    assert [i.reference for i in missing] == ["return_to_centre"]
    assert not [i for i in review if i.kind is ExceptionKind.TEMPERATURE_EXCURSION]

    document = json.loads(render_json(record, legs=legs))
    first = document["temperature"][0]
    assert first["summary"]["series_sha256"] == series.sha256()
    assert len(first["series"]["readings"]) == 5 and first["range"]["min_c"] == 2


def test_without_the_definition_an_excursion_and_incomplete_evidence_are_still_listed() -> None:
    record = exceptional_record(BATCH)  # 3.1..9.4 °C for 35 min, no logger/readings/interval
    kinds = [i.kind for i in review_by_exception(record)]
    assert ExceptionKind.TEMPERATURE_EXCURSION in kinds
    assert ExceptionKind.TEMPERATURE_EVIDENCE_MISSING in kinds
    page = render_html(record)
    assert "not known here" in page and "none recorded" in page
