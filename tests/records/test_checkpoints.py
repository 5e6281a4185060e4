"""Signed checkpoints of the chain heads: a rewritten and re-hashed ledger is detected."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from temporalio.testing import ActivityEnvironment

from activities import Activities
from records import (
    RECORD_CLOSED,
    Checkpoint,
    Checkpointer,
    CheckpointFileError,
    Ledger,
    checkpoint_periodically,
    read_checkpoint_file,
    stored_checkpoints,
    write_checkpoint_file,
)
from tests.records.attacker import delete_checkpoints, drop_guards, rewrite_history
from tests.records.factories import event, events
from workflows.signatures import SigningKey

BATCH = "B-ANCHOR01"
OTHER = "B-ANCHOR02"
AT = datetime(2025, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    """The deployment key that signs checkpoints."""
    return SigningKey.generate("k-anchor")


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """Where the checkpoint journal goes."""
    return tmp_path / "data" / "ledger-checkpoints.jsonl"


@pytest.fixture
def checkpointer(ledger: Ledger, key: SigningKey, journal: Path) -> Checkpointer:
    """A checkpointer with a fixed clock."""
    return Checkpointer(ledger, key, journal, clock=lambda: AT)


def _checkpoints(ledger: Ledger) -> list[Checkpoint]:
    with ledger.engine.connect() as conn:
        return stored_checkpoints(conn)


def test_each_moved_head_is_signed_once_into_table_and_journal(
    ledger: Ledger, checkpointer: Checkpointer, key: SigningKey, journal: Path
) -> None:
    ledger.append([*events(BATCH, 4), *events(OTHER, 2)])
    first = checkpointer.checkpoint()
    assert [(c.checkpoint_id, c.seq, c.key_id) for c in first.made] == [
        (f"{BATCH}@4", 4, "k-anchor"),
        (f"{OTHER}@2", 2, "k-anchor"),
    ]
    assert first.made[0].entry_hash == _head_hash(ledger, BATCH)
    assert checkpointer.checkpoint().made == []  # nothing moved
    ledger.append(events(BATCH, 2, first=5))
    assert [c.checkpoint_id for c in checkpointer.checkpoint().made] == [f"{BATCH}@6"]
    assert checkpointer.checkpoint([OTHER]).made == []

    table = _checkpoints(ledger)
    assert [c.checkpoint_id for c in table] == [f"{BATCH}@4", f"{OTHER}@2", f"{BATCH}@6"]
    assert read_checkpoint_file(journal) == table
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    report = ledger.verify(public_keys=key_map(key), checkpoint_file=journal)
    assert report.ok, report.breaks
    assert (report.checkpoints_checked, report.signatures_checked, report.not_in_file) == (
        3,
        True,
        0,
    )


def test_the_checkpoint_table_is_append_only(ledger: Ledger, checkpointer: Checkpointer) -> None:
    ledger.append(events(BATCH, 2))
    checkpointer.checkpoint()
    statements = [
        "UPDATE ledger_checkpoints SET entry_hash = 'x'",
        "DELETE FROM ledger_checkpoints",
    ]
    if ledger.dialect == "postgresql":
        statements.append("TRUNCATE ledger_checkpoints")
    for statement in statements:
        with (
            pytest.raises(DBAPIError, match="checkpoints are append-only"),
            ledger.engine.begin() as conn,
        ):
            conn.execute(text(statement))
    assert len(_checkpoints(ledger)) == 1


@pytest.mark.requirement("P11-10a")
def test_a_rewritten_and_rehashed_chain_fails_verify_naming_batch_and_checkpoint(
    ledger: Ledger, checkpointer: Checkpointer, key: SigningKey
) -> None:
    ledger.append([*events(BATCH, 6), *events(OTHER, 3)])
    checkpointer.checkpoint()

    rewrite_history(ledger, BATCH, 3, "nothing to see here")

    assert ledger.entries(BATCH)[2].reason == "nothing to see here"
    report = ledger.verify(public_keys=key_map(key))
    assert not report.ok
    assert report.breaks == [report.first_break]
    broken = report.first_break
    assert broken is not None
    assert (broken.batch_id, broken.seq) == (BATCH, 6)
    assert (broken.checkpoint_id, broken.checkpoint_at) == (f"{BATCH}@6", AT)
    assert "no longer has the hash" in broken.reason
    assert f"checkpoint {BATCH}@6 of 2025-03-02T09:30:00Z" in broken.reason
    assert ledger.verify(OTHER, public_keys=key_map(key)).ok


def test_deleting_the_checkpoint_rows_too_is_caught_through_the_journal(
    ledger: Ledger, checkpointer: Checkpointer, key: SigningKey, journal: Path
) -> None:
    ledger.append(events(BATCH, 6))
    checkpointer.checkpoint()

    rewrite_history(ledger, BATCH, 3, "nothing to see here")
    delete_checkpoints(ledger)

    assert ledger.verify(public_keys=key_map(key)).ok  # the database alone is fooled
    report = ledger.verify(public_keys=key_map(key), checkpoint_file=journal)
    assert not report.ok
    reasons = [(b.batch_id, b.seq, b.checkpoint_id, b.reason) for b in report.breaks]
    assert len(reasons) == 2
    assert reasons[0][:3] == (BATCH, 6, f"{BATCH}@6")
    assert "is in" in reasons[0][3] and "missing from the checkpoint table" in reasons[0][3]
    assert "no longer has the hash" in reasons[1][3]


def test_a_shortened_chain_is_caught(
    ledger: Ledger, checkpointer: Checkpointer, key: SigningKey
) -> None:
    ledger.append(events(BATCH, 5))
    checkpointer.checkpoint()
    drop_guards(ledger, "ledger_entries")
    with ledger.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM ledger_entries WHERE batch_id = '{BATCH}' AND seq > 3"))

    report = ledger.verify(public_keys=key_map(key))

    assert report.first_break is not None
    assert report.first_break.reason.startswith("the chain ends at seq 3, shorter than checkpoint")
    whole = ledger.verify(BATCH)
    assert [b.seq for b in whole.breaks] == [5]


def test_a_checkpointed_batch_whose_entries_are_all_gone_is_broken_not_unknown(
    ledger: Ledger, checkpointer: Checkpointer, key: SigningKey
) -> None:
    ledger.append(events(BATCH, 4))
    checkpointer.checkpoint()
    drop_guards(ledger, "ledger_entries")
    with ledger.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM ledger_entries WHERE batch_id = '{BATCH}'"))

    report = ledger.verify(BATCH, public_keys=key_map(key))

    assert report.found and not report.ok
    assert report.breaks and all(b.batch_id == BATCH for b in report.breaks)


def test_a_checkpoint_changed_without_the_key_fails_its_signature(
    ledger: Ledger, checkpointer: Checkpointer, key: SigningKey
) -> None:
    ledger.append(events(BATCH, 4))
    checkpointer.checkpoint()
    rewrite_history(ledger, BATCH, 2, "tidied")
    drop_guards(ledger, "ledger_checkpoints")
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE ledger_checkpoints SET entry_hash = :h"), {"h": _head_hash(ledger, BATCH)}
        )

    assert ledger.verify().ok  # without public keys, only consistency is checked
    report = ledger.verify(public_keys=key_map(key))
    assert report.first_break is not None
    assert "signature does not verify with key 'k-anchor'" in report.first_break.reason
    stranger = SigningKey.generate("k-stranger")
    unknown = ledger.verify(public_keys=key_map(stranger))
    assert unknown.first_break is not None
    assert "'k-anchor', which is not a known public key" in unknown.first_break.reason


def test_a_key_thief_can_forge_the_journal_but_not_the_external_archive(
    ledger: Ledger, checkpointer: Checkpointer, key: SigningKey, journal: Path, tmp_path: Path
) -> None:
    ledger.append(events(BATCH, 5))
    checkpointer.checkpoint()
    archive = tmp_path / "archive.jsonl"
    assert write_checkpoint_file(archive, _checkpoints(ledger)) == 1
    with pytest.raises(FileExistsError):
        write_checkpoint_file(archive, [])

    rewrite_history(ledger, BATCH, 2, "forged")
    delete_checkpoints(ledger)
    journal.unlink()
    Checkpointer(ledger, key, journal).checkpoint()  # re-signed with the stolen key

    assert ledger.verify(public_keys=key_map(key), checkpoint_file=journal).ok
    report = ledger.verify(public_keys=key_map(key), checkpoint_file=archive)
    assert not report.ok
    assert report.first_break is not None
    assert report.first_break.checkpoint_id == f"{BATCH}@5"
    assert "different in the checkpoint table" in report.first_break.reason


def test_a_broken_chain_is_not_signed(ledger: Ledger, checkpointer: Checkpointer) -> None:
    ledger.append(events(BATCH, 3))
    checkpointer.checkpoint()
    drop_guards(ledger, "ledger_entries")
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_entries SET reason = 'x' WHERE seq = 2"))
    ledger.append(events(BATCH, 1, first=4))

    run = checkpointer.checkpoint()

    assert run.made == []
    assert [(b.batch_id, b.seq) for b in run.refused] == [(BATCH, 2)]
    assert [c.seq for c in _checkpoints(ledger)] == [3]


def test_the_journal_names_a_line_that_is_not_a_checkpoint(
    ledger: Ledger, checkpointer: Checkpointer, journal: Path
) -> None:
    ledger.append(events(BATCH, 1))
    checkpointer.checkpoint()
    with journal.open("a") as fh:
        fh.write(json.dumps({"batch_id": BATCH}) + "\n")
    with pytest.raises(CheckpointFileError, match=r"ledger-checkpoints.jsonl:2: not a checkpoint"):
        ledger.verify(checkpoint_file=journal)


def test_closing_a_batch_checkpoints_it_through_the_activity(
    ledger: Ledger, checkpointer: Checkpointer, key: SigningKey
) -> None:
    acts = Activities(adapter_for=_no_adapter, ledger=ledger, anchor=checkpointer)
    env = ActivityEnvironment()
    running = events(BATCH, 3)
    assert env.run(acts.project_audit, running) == 3
    assert _checkpoints(ledger) == []  # no close, no checkpoint
    closed = [*running, event(BATCH, 4, action=RECORD_CLOSED, new_value="{}")]
    assert env.run(acts.project_audit, closed) == 1
    assert env.run(acts.project_audit, closed) == 0  # a retry writes nothing twice
    assert [(c.batch_id, c.seq) for c in _checkpoints(ledger)] == [(BATCH, 4)]
    assert ledger.verify(BATCH, public_keys=key_map(key)).ok


async def test_the_worker_task_checkpoints_periodically_and_once_more_at_stop(
    ledger: Ledger, checkpointer: Checkpointer
) -> None:
    ledger.append(events(BATCH, 2))
    stop = asyncio.Event()
    task = asyncio.create_task(checkpoint_periodically(checkpointer, 0.05, stop))
    for _ in range(100):
        if _checkpoints(ledger):
            break
        await asyncio.sleep(0.05)
    ledger.append(events(OTHER, 1))
    stop.set()
    await asyncio.wait_for(task, 10)
    assert {c.checkpoint_id for c in _checkpoints(ledger)} == {f"{BATCH}@2", f"{OTHER}@1"}


async def test_a_starting_worker_leaves_the_first_pass_for_one_interval_later(
    ledger: Ledger, checkpointer: Checkpointer
) -> None:
    # A worker just started replays every batch it picks up; a pass over every moved chain
    # then would compete with that (`benchmarks.recovery`). The stop's pass still signs.
    ledger.append(events(BATCH, 2))
    stop = asyncio.Event()
    task = asyncio.create_task(checkpoint_periodically(checkpointer, 3600, stop))
    for _ in range(20):
        await asyncio.sleep(0.1)
        assert _checkpoints(ledger) == []
    stop.set()
    await asyncio.wait_for(task, 10)
    assert [c.checkpoint_id for c in _checkpoints(ledger)] == [f"{BATCH}@2"]


def key_map(key: SigningKey) -> dict[str, str]:
    """The public keys verification trusts: `{key_id: public_hex}`."""
    return {key.key_id: key.public_hex()}


def _head_hash(ledger: Ledger, batch_id: str) -> str:
    with ledger.engine.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT entry_hash FROM ledger_entries WHERE batch_id = :b"
                    " ORDER BY seq DESC LIMIT 1"
                ),
                {"b": batch_id},
            ).scalar_one()
        )


def _no_adapter(site: str) -> NoReturn:
    raise AssertionError(f"no site adapter in this test ({site})")
