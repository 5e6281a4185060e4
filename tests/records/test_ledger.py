"""The ledger: exactly-once appends, no gaps, append-only storage, tamper evidence, genealogy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from records import Ledger, LedgerConflictError, LedgerGapError
from records._schema import POSTGRES_TRIGGERS, SQLITE_TRIGGERS
from tests.records.factories import T0, event, events, lot_consumed, signature
from workflows.model import DecisionAction

BATCH = "B-LEDGER01"
OTHER = "B-LEDGER02"


def test_append_writes_each_event_once_and_resends_are_silent(ledger: Ledger) -> None:
    first = events(BATCH, 5)
    assert ledger.append(first) == 5
    assert ledger.append(first) == 0
    assert ledger.append(events(BATCH, 7)) == 2
    assert [e.seq for e in ledger.entries(BATCH)] == list(range(1, 8))
    assert ledger.count(BATCH) == 7
    assert ledger.verify().ok


def test_entries_are_rebuilt_field_for_field(ledger: Ledger) -> None:
    signed = event(
        BATCH,
        1,
        actor="qa-1",
        action="gate.approved",
        subject="qa_release",
        old_value="quarantined",
        new_value="released",
        reason="Alle Prüfungen bestanden ✓",
        signature=signature("qa_release", DecisionAction.APPROVE, "approval", "ok"),
    )
    ledger.append([signed, event(BATCH, 2)])
    assert ledger.entries(BATCH) == [signed, event(BATCH, 2)]
    assert ledger.entries("B-NOSUCHBATCH") == []


@pytest.mark.requirement("ALCOA-C")
def test_same_key_with_different_content_is_refused(ledger: Ledger) -> None:
    ledger.append(events(BATCH, 2))
    with pytest.raises(LedgerConflictError, match=f"{BATCH}:2"):
        ledger.append([event(BATCH, 2, reason="rewritten history")])
    assert ledger.entries(BATCH) == events(BATCH, 2)


@pytest.mark.parametrize(
    ("stored", "offered", "message"),
    [
        (0, [2, 3], "got seq 2 but the next entry must be seq 1"),
        (2, [3, 5], "got seq 5 but the next entry must be seq 4"),
        (2, [4], "got seq 4 but the next entry must be seq 3"),
    ],
)
def test_a_gap_is_refused_and_nothing_of_the_call_is_written(
    ledger: Ledger, stored: int, offered: list[int], message: str
) -> None:
    ledger.append(events(BATCH, stored))
    call = [event(OTHER, 1), *(event(BATCH, seq) for seq in offered)]
    with pytest.raises(LedgerGapError, match=message):
        ledger.append(call)
    assert ledger.count(BATCH) == stored
    assert ledger.count(OTHER) == 0


def test_events_of_one_call_are_written_in_seq_order(ledger: Ledger) -> None:
    assert ledger.append([event(BATCH, 3), event(BATCH, 1), event(BATCH, 2)]) == 3
    assert ledger.verify(BATCH).ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET reason = 'tidied up' WHERE seq = 2",
        "DELETE FROM ledger_entries WHERE seq = 3",
        "DELETE FROM ledger_entries",
        "UPDATE lot_usage SET coi = 'COI-OTHER'",
        "DELETE FROM lot_usage",
    ],
)
@pytest.mark.requirement("P11-10e", "ALCOA-C")
def test_the_database_itself_refuses_changes(ledger: Ledger, statement: str) -> None:
    ledger.append([*events(BATCH, 2), lot_consumed(BATCH, 3, "LOT-1", "COI-1", "transduce")])
    with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.execute(text(statement))
    assert ledger.entries(BATCH)[1].reason is None
    assert ledger.count(BATCH) == 3
    assert len(ledger.where_used("LOT-1")) == 1


def test_postgresql_also_refuses_truncate(ledger: Ledger) -> None:
    if ledger.dialect != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    ledger.append(events(BATCH, 1))
    with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.execute(text("TRUNCATE ledger_entries"))
    assert ledger.count() == 1


def _remove_guards(ledger: Ledger) -> None:
    """What someone with database access could do behind the application's back."""
    with ledger.engine.begin() as conn:
        if ledger.dialect == "sqlite":
            for name in SQLITE_TRIGGERS["ledger_entries"]:
                conn.execute(text(f"DROP TRIGGER {name}"))
        else:
            for name in POSTGRES_TRIGGERS["ledger_entries"]:
                conn.execute(text(f"DROP TRIGGER {name} ON ledger_entries"))


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"),
    [
        ("UPDATE ledger_entries SET reason = 'nothing to see' WHERE seq = 4", 4, "entry_hash"),
        ("UPDATE ledger_entries SET at = '2025-03-01T07:59:00Z' WHERE seq = 6", 6, "entry_hash"),
        ("DELETE FROM ledger_entries WHERE seq = 5", 6, "seq gap: expected seq 5, found 6"),
        (f"UPDATE ledger_entries SET prev_hash = '{'0' * 64}' WHERE seq = 3", 3, "prev_hash"),
    ],
)
def test_tampering_behind_the_apps_back_is_named_by_verify(
    ledger: Ledger, tamper: str, seq: int, reason: str
) -> None:
    ledger.append([*events(OTHER, 8), *events(BATCH, 8)])
    assert ledger.verify().ok
    _remove_guards(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(text(f"{tamper} AND batch_id = '{BATCH}'"))

    report = ledger.verify()

    assert not report.ok
    assert report.batches_checked == 2
    assert report.first_break is not None
    assert report.first_break.batch_id == BATCH
    assert report.first_break.seq == seq
    assert report.first_break.reason.startswith(reason)
    assert report.breaks == [report.first_break]
    assert ledger.verify(OTHER).ok
    assert not ledger.verify(BATCH).ok


def test_verify_counts_and_reports_unknown_batches(ledger: Ledger) -> None:
    ledger.append([*events(BATCH, 3), *events(OTHER, 4)])
    report = ledger.verify()
    assert (report.ok, report.batches_checked, report.entries_checked) == (True, 2, 7)
    unknown = ledger.verify("B-NOSUCHBATCH")
    # Unknown, not broken: nothing ever vouched for entries of this batch.
    assert (unknown.ok, unknown.found, unknown.breaks) == (False, False, [])


def test_where_used_traces_a_lot_to_every_batch(ledger: Ledger) -> None:
    ledger.append(
        [
            lot_consumed(BATCH, 1, "VEC-1", "COI-A", "transduction"),
            lot_consumed(BATCH, 2, "VEC-1", "COI-A", "re-transduction"),
            lot_consumed(OTHER, 1, "VEC-1", "COI-B", "transduction"),
            lot_consumed(OTHER, 2, "MEDIA-9", "COI-B", "expansion"),
        ]
    )
    uses = ledger.where_used("VEC-1")
    assert [(u.batch_id, u.coi, u.step) for u in uses] == [
        (BATCH, "COI-A", "transduction"),
        (OTHER, "COI-B", "transduction"),
    ]
    assert uses[0].at == T0 + timedelta(minutes=1)
    assert ledger.where_used("VEC-404") == []


def test_lot_consumed_needs_a_json_object(ledger: Ledger) -> None:
    bad = event(BATCH, 1, action="lot.consumed", subject="VEC-1", new_value="COI-A")
    with pytest.raises(ValueError, match="JSON object"):
        ledger.append([bad])
    assert ledger.count() == 0


def test_create_schema_is_idempotent(ledger: Ledger) -> None:
    ledger.append(events(BATCH, 2))
    ledger.create_schema()
    ledger.create_schema()
    assert ledger.append(events(BATCH, 3)) == 1
    assert ledger.batches() == [BATCH]
    with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_entries"))


def test_batches_are_listed_once_each_sorted(ledger: Ledger) -> None:
    ledger.append([*events(OTHER, 2), *events(BATCH, 3), *events("B-AAAAAA", 1)])
    assert ledger.batches() == ["B-AAAAAA", BATCH, OTHER]


def test_unsupported_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        Ledger.from_url("sqlite://")
    with pytest.raises(ValueError, match="unsupported ledger database"):
        Ledger.from_url("mysql://user@localhost/ledger")
