"""The electronic batch record: rebuilt from the ledger alone, exported as HTML and JSON."""

from __future__ import annotations

import json

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
