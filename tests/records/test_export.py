"""The electronic batch record: rebuilt from the ledger alone, exported as HTML and JSON."""

from __future__ import annotations

import json
import re

import pytest

from records import (
    RECORD_CLOSED,
    RECORD_SNAPSHOT,
    Break,
    ExceptionKind,
    Ledger,
    RecordNotFound,
    VerifyReport,
    load_record,
    render_html,
    render_json,
    review_by_exception,
    snapshot_value,
)
from tests.records.factories import event, events, exceptional_record, ledger_history
from workflows.model import BatchRecord, BatchStatus

BATCH = "B-EXPORT01"


def _review_section(page: str) -> str:
    start = page.index('id="review-by-exception"')
    return page[start : page.index("</section>", start)]


def test_the_record_is_rebuilt_from_the_ledger_alone(ledger: Ledger, ledger_url: str) -> None:
    record = exceptional_record(BATCH)
    ledger.append(ledger_history(record))

    with Ledger.from_url(ledger_url) as fresh:  # nothing shared with the writer but the database
        loaded = load_record(fresh, BATCH)
        assert loaded.audit == fresh.entries(BATCH)

    assert loaded.model_copy(update={"audit": []}) == record
    assert loaded.content_hash() == record.content_hash()
    assert [e.action for e in loaded.audit][-1] == RECORD_CLOSED


def test_the_latest_closed_record_wins_over_snapshots(ledger: Ledger) -> None:
    final = exceptional_record(BATCH)
    interim = final.model_copy(update={"status": BatchStatus.ACTIVE, "version": 3})
    later_interim = final.model_copy(update={"status": BatchStatus.HELD, "version": 4})
    ledger.append(
        [
            event(BATCH, 1, action=RECORD_SNAPSHOT, new_value=snapshot_value(interim)),
            event(BATCH, 2, action=RECORD_CLOSED, new_value=snapshot_value(final)),
            event(BATCH, 3, action=RECORD_SNAPSHOT, new_value=snapshot_value(later_interim)),
        ]
    )
    assert load_record(ledger, BATCH).status is BatchStatus.COMPLETED


def test_without_a_closed_record_the_latest_snapshot_is_used(ledger: Ledger) -> None:
    first = exceptional_record(BATCH).model_copy(update={"status": BatchStatus.ACTIVE})
    second = first.model_copy(update={"status": BatchStatus.QUARANTINED, "version": 7})
    ledger.append(
        [
            event(BATCH, 1, action=RECORD_SNAPSHOT, new_value=snapshot_value(first)),
            event(BATCH, 2),
            event(BATCH, 3, action=RECORD_SNAPSHOT, new_value=snapshot_value(second)),
        ]
    )
    loaded = load_record(ledger, BATCH)
    assert (loaded.status, loaded.version, len(loaded.audit)) == (BatchStatus.QUARANTINED, 7, 3)


def test_a_batch_without_a_record_is_reported(ledger: Ledger) -> None:
    ledger.append(events(BATCH, 2))
    with pytest.raises(RecordNotFound, match=r"2 ledger entries but no 'record\.closed'"):
        load_record(ledger, BATCH)
    with pytest.raises(RecordNotFound, match="no entries for batch B-NOSUCHBATCH"):
        load_record(ledger, "B-NOSUCHBATCH")


def test_a_record_of_another_batch_is_refused(ledger: Ledger) -> None:
    foreign = snapshot_value(exceptional_record("B-SOMEONEELSE"))
    ledger.append([event(BATCH, 1, action=RECORD_CLOSED, new_value=foreign)])
    with pytest.raises(ValueError, match="holds the record of B-SOMEONEELSE"):
        load_record(ledger, BATCH)


@pytest.mark.requirement("P11-10b")
def test_html_opens_with_review_by_exception_and_shows_the_whole_record(ledger: Ledger) -> None:
    ledger.append(ledger_history(exceptional_record(BATCH)))
    record = load_record(ledger, BATCH)

    page = render_html(record, verification=ledger.verify(BATCH))

    assert page.startswith("<!DOCTYPE html>")
    sections = [
        "Review by exception",
        "Identification",
        "Chain of custody",
        "Timeline",
        "Results against specification",
        "Deviations and dispositions",
        "Signatures",
        "Audit trail",
    ]
    positions = [page.index(f"<h2>{title}</h2>") for title in sections]
    assert positions == sorted(positions)
    review = _review_section(page)
    for expected in ("DEV-1", "viability", "exceptional release", "ship_to_site", "label"):
        assert expected in review
    for expected in (
        "1.4.0",
        "d" * 64,
        "COI-0000451X",
        "ORD-1001",
        "OUT OF SPEC",
        "&gt;= 80 %",
        "Dana Q. Reviewer",
        "approval",
        "Physician request: no alternative therapy",
        "VEC-2207",
        "verified: 6 entries in an unbroken chain",
    ):
        assert expected in page
    assert "sha256" in page  # the record snapshot in the audit trail is shortened, not dumped


def test_html_escapes_everything_and_loads_nothing_from_outside() -> None:
    page = render_html(exceptional_record(BATCH))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page
    assert "<link" not in page
    assert "http://" not in page and "https://" not in page


def test_html_flags_a_broken_ledger_first() -> None:
    broken = VerifyReport(
        ok=False,
        batches_checked=1,
        entries_checked=6,
        first_break=Break(batch_id=BATCH, seq=4, reason="entry_hash mismatch"),
    )
    review = _review_section(render_html(exceptional_record(BATCH), verification=broken))
    assert "ledger integrity" in review
    assert "seq 4: entry_hash mismatch" in review


def test_a_clean_record_says_so() -> None:
    clean = BatchRecord(
        batch_id=BATCH,
        product="autologous-car-t",
        definition_version="1.4.0",
        definition_hash="d" * 64,
        order_id="ORD-1",
        sites={},
        status=BatchStatus.RELEASED,
        released=True,
    )
    assert review_by_exception(clean) == []
    assert "No departures from plan were recorded." in render_html(clean)


def test_abandonment_and_open_deviations_lead_the_review() -> None:
    record = exceptional_record(BATCH)
    open_deviation = record.deviations[0].model_copy(
        update={"deviation_id": "DEV-2", "disposition": None, "reason": None}
    )
    abandoned = record.model_copy(
        update={
            "status": BatchStatus.ABANDONED,
            "abandoned_reason": "Patient withdrew",
            "compensations": ["release_slot", "cancel_courier"],
            "deviations": [*record.deviations, open_deviation],
        }
    )
    items = review_by_exception(abandoned)
    assert items[0].kind is ExceptionKind.ABANDONMENT
    assert "release_slot, cancel_courier" in items[0].summary
    assert [i.reference for i in items if i.open] == ["DEV-2"]


@pytest.mark.requirement("P11-10b")
def test_json_opens_with_review_by_exception(ledger: Ledger) -> None:
    ledger.append(ledger_history(exceptional_record(BATCH)))
    record = load_record(ledger, BATCH)

    document = json.loads(render_json(record, verification=ledger.verify(BATCH)))

    assert next(iter(document)) == "review_by_exception"
    kinds = {item["kind"] for item in document["review_by_exception"]}
    assert kinds == {
        "exceptional_release",
        "deviation",
        "out_of_specification",
        "unverified_custody",
        "temperature_evidence_missing",  # the factory's leg names no logger, readings, interval
        "temperature_excursion",
    }
    assert document["ledger_verification"]["ok"] is True
    assert BatchRecord.model_validate(document["batch_record"]) == record
    assert document["content_hash"] == record.content_hash()


def _counted(batch_id: str) -> BatchRecord:
    """The exceptional record with a cell count as a machine reports it, at a moment with
    microseconds."""
    record = exceptional_record(batch_id)
    viability = record.results["viability"]
    count = viability.model_copy(
        update={
            "name": "total_viable_cells",
            "value": 2417300922.5986,
            "unit": "cells",
            "limit": ">= 1e9 cells",
            "in_specification": True,
            "at": viability.at.replace(microsecond=123456),
        }
    )
    return record.model_copy(update={"results": {**record.results, "total_viable_cells": count}})


def test_html_prints_times_to_the_minute_in_a_zone_with_the_utc_instant_in_the_title() -> None:
    page = render_html(_counted(BATCH), tz="Europe/Berlin")
    results = page[page.index('id="results-against-specification"') :]
    assert (
        '<time datetime="2025-03-12T08:00:00Z" title="2025-03-12T08:00:00Z">'
        "2025-03-12 09:00 CET</time>"
    ) in results
    assert "times in Europe/Berlin" in page
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", page), "microseconds in the export"
    assert "+00:00" not in page
    # Outside tags, no raw ISO instant is shown: only in datetime/title attributes.
    text = re.sub(r"<[^>]+>", " ", page)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", _without_audit(text))


def test_html_prints_numbers_with_four_significant_digits_and_their_unit() -> None:
    page = render_html(_counted(BATCH))
    assert "<td>2.417 \N{MULTIPLICATION SIGN} 10⁹ cells</td>" in page
    assert "2417300922" not in page
    assert "<td>71 %</td>" in page


def _without_audit(text: str) -> str:
    # The audit trail's old and new values are stored text (a record snapshot holds ISO
    # instants), shown as recorded.
    return text[: text.index("Audit trail")]


def test_a_running_batch_is_exported_marked_in_progress_and_a_closed_one_final() -> None:
    running = exceptional_record(BATCH).model_copy(update={"status": BatchStatus.ACTIVE})
    page = render_html(running)
    assert "Electronic batch record B-EXPORT01 (in progress)</h1>" in page
    assert 'data-state="in_progress"' in page and "It is not the final batch record" in page
    assert _review_section(page)  # the same review by exception opens it
    assert json.loads(render_json(running))["record_state"] == "in_progress"

    closed = running.model_copy(update={"status": BatchStatus.COMPLETED, "completed": True})
    final = render_html(closed)
    assert "(in progress)" not in final and 'data-state="final"' in final
    assert json.loads(render_json(closed))["record_state"] == "final"
