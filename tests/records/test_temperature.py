"""Temperature series: validation, canonical hash, summary, and the store on both databases."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import update

from records.temperature import MAX_READINGS, TemperatureSeries, disagreements, summarise
from records.temperature_store import SeriesCorrupted, TemperatureStore, temperature_series
from workflows.language import celsius

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
BATCH = "B-TEMP000001"


def series(values: list[float], *, interval: float = 60, **over: Any) -> TemperatureSeries:
    """A series of one reading per `interval` seconds from T0."""
    readings = [(T0 + timedelta(seconds=i * interval), v) for i, v in enumerate(values)]
    fields: dict[str, Any] = {
        "batch_id": BATCH,
        "step": "ship_to_site",
        "logger_id": "LOG-7",
        "interval_seconds": interval,
        "readings": readings,
        **over,
    }
    return TemperatureSeries.model_validate(fields)


def test_summary_counts_minutes_outside_from_the_readings_and_names_the_series() -> None:
    s = series([4.0, 5.0, 9.5, 10.0, 6.0, 1.5, 4.0], interval=120)
    summary = summarise(s, celsius(2, 8))
    assert (summary.min_c, summary.max_c) == (1.5, 10.0)
    assert summary.minutes_outside_range == 6  # three readings outside, two minutes each
    assert (summary.readings, summary.interval_seconds, summary.logger_id) == (7, 120, "LOG-7")
    assert summary.series_sha256 == s.sha256()
    assert summary.evidence_problems() == []
    assert summarise(s, None).minutes_outside_range == 0


def test_hash_is_sha256_of_the_canonical_json_and_independent_of_time_zone() -> None:
    s = series([4.0, 4.5])
    document = json.loads(s.canonical_json())
    assert document["readings"] == [["2026-03-01T08:00:00Z", 4.0], ["2026-03-01T08:01:00Z", 4.5]]
    assert s.sha256() == hashlib.sha256(s.canonical_json().encode()).hexdigest()
    shifted = T0.astimezone(timezone(timedelta(hours=2)))
    same = series([4.0, 4.5]).model_copy(
        update={"readings": ((shifted, 4.0), (shifted + timedelta(minutes=1), 4.5))}
    )
    assert same.sha256() == s.sha256()
    assert series([4.0, 4.6]).sha256() != s.sha256()
    assert series([4.0, 4.5], logger_id="LOG-8").sha256() != s.sha256()


@pytest.mark.parametrize(
    ("readings", "why"),
    [
        ([], "at least 1"),
        ([(T0, float("nan"))], "finite"),
        ([(T0, float("inf"))], "finite"),
        ([(T0, -300.0)], "plausible"),
        ([(T0, 4.0), (T0 - timedelta(minutes=1), 4.0)], "time order"),
        ([(T0, 4.0), (T0, 4.1)], "time order"),
        ([(T0.replace(tzinfo=None), 4.0)], "timezone"),
    ],
)
def test_bad_series_are_refused(readings: list[Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        series([4.0], readings=readings)


def test_too_many_readings_and_a_bad_interval_are_refused() -> None:
    with pytest.raises(ValidationError, match="at most"):
        series([4.0] * (MAX_READINGS + 1), interval=1)
    with pytest.raises(ValidationError, match="greater than 0"):
        series([4.0], interval=0)


def test_a_sent_summary_is_compared_field_by_field() -> None:
    computed = summarise(series([4.0, 9.0]), celsius(2, 8))
    assert disagreements(computed, computed) == []
    partial = computed.model_copy(update={"logger_id": None, "series_sha256": None})
    assert disagreements(computed, partial) == []
    lying = computed.model_copy(update={"max_c": 7.5, "minutes_outside_range": 0})
    found = disagreements(computed, lying)
    assert any("max_c 7.5" in p for p in found) and any("minutes_outside" in p for p in found)


def test_store_round_trip_is_idempotent_and_refuses_altered_rows(ledger_url: str) -> None:
    store = TemperatureStore(ledger_url)
    try:
        store.create_schema()
        store.create_schema()
        first, second = series([4.0, 5.0, 6.0]), series([3.0, 3.5], step="receipt")
        digest = store.put(first)
        assert store.put(first) == digest == first.sha256()
        store.put(second)
        assert store.get(digest) == first
        assert store.get("0" * 64) is None
        listed = store.for_batch(BATCH)
        assert [(s.step, s.readings) for s in listed] == [("receipt", 2), ("ship_to_site", 3)]
        assert listed[1].sha256 == digest and listed[1].first_at == T0
        assert store.for_batch("B-OTHER00001") == []
        altered = first.model_copy(update={"readings": ((T0, 4.0), (T0 + timedelta(1), 25.0))})
        with store.engine.begin() as conn:
            conn.execute(
                update(temperature_series)
                .where(temperature_series.c.sha256 == digest)
                .values(series_json=altered.canonical_json())
            )
        with pytest.raises(SeriesCorrupted):
            store.get(digest)
    finally:
        store.close()
