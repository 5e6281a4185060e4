"""The simulated courier's loggers: complete evidence, and the full series in the records store."""

from __future__ import annotations

from typing import Any

import pytest

from activities import Fault
from records.temperature import handoff_ranges, summarise
from records.temperature_store import TemperatureStore
from tests.harness import Harness
from tests.products import FLAKY_BOOKING


@pytest.mark.parametrize(("faults", "minutes_out"), [([], 0), (["temperature_excursion"], 80)])
async def test_simulated_leg_reports_evidence_backed_by_a_stored_series(
    harness: Harness, faults: list[Any], minutes_out: float
) -> None:
    handle = await harness.start(
        FLAKY_BOOKING, faults=[Fault(kind=kind, step="receipt") for kind in faults]
    )
    rec = await harness.advance_until(handle, lambda r: bool(r.custody), what="custody")
    summary = rec.custody[0].temperature
    assert summary is not None and summary.evidence_problems() == []
    assert summary.minutes_outside_range == minutes_out
    assert summary.series_sha256 is not None
    store = TemperatureStore(harness.ledger.engine)
    series = store.get(summary.series_sha256)
    assert series is not None and (series.batch_id, series.step) == (rec.batch_id, "receipt")
    assert summarise(series, handoff_ranges(FLAKY_BOOKING)["receipt"]) == summary
    assert summary.readings is not None and summary.readings >= 60
