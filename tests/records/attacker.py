"""What someone with file or database access can do to the ledger behind the application's back."""

from __future__ import annotations

from sqlalchemy import text

from records import Ledger
from records._chain import GENESIS_HASH, chain_hash, row_content
from records._schema import POSTGRES_TRIGGERS, SQLITE_TRIGGERS


def drop_guards(ledger: Ledger, table: str) -> None:
    """Remove the append-only triggers of `table`."""
    with ledger.engine.begin() as conn:
        if ledger.dialect == "sqlite":
            for name in SQLITE_TRIGGERS[table]:
                conn.execute(text(f"DROP TRIGGER {name}"))
        else:
            for name in POSTGRES_TRIGGERS[table]:
                conn.execute(text(f"DROP TRIGGER {name} ON {table}"))


def rehash(ledger: Ledger, batch_id: str) -> None:
    """Recompute `batch_id`'s whole chain with the ledger's own hash function."""
    with ledger.engine.begin() as conn:
        rows = conn.execute(
            text("SELECT * FROM ledger_entries WHERE batch_id = :b ORDER BY seq"), {"b": batch_id}
        ).all()
        prev = GENESIS_HASH
        for row in rows:
            entry_hash = chain_hash(prev, row_content(row._mapping))
            conn.execute(
                text("UPDATE ledger_entries SET prev_hash = :p, entry_hash = :h WHERE id = :i"),
                {"p": prev, "h": entry_hash, "i": row.id},
            )
            prev = entry_hash


def rewrite_history(ledger: Ledger, batch_id: str, seq: int, reason: str) -> None:
    """Drop the ledger's trigger, change an entry's reason and recompute the chain: the plain
    chain check cannot tell."""
    drop_guards(ledger, "ledger_entries")
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE ledger_entries SET reason = :r WHERE batch_id = :b AND seq = :s"),
            {"r": reason, "b": batch_id, "s": seq},
        )
    rehash(ledger, batch_id)


def delete_checkpoints(ledger: Ledger) -> None:
    """Drop the checkpoint table's triggers and delete every checkpoint row."""
    drop_guards(ledger, "ledger_checkpoints")
    with ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_checkpoints"))
