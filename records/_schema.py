"""The record store's tables, and the triggers that make the database itself refuse changes.

The triggers are the point: an application bug, a careless migration or a person with a SQL
prompt cannot rewrite or remove an audit entry without first dropping a trigger, and the hash
chain (see `records._chain`) shows afterwards that something was changed.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("batch_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    # Kept as the exact ISO 8601 text that was hashed: a timestamp type would normalise the
    # offset or precision and the recomputed hash would no longer match.
    Column("at", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("old_value", Text, nullable=True),
    Column("new_value", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("signature_json", Text, nullable=True),
    Column("definition_hash", Text, nullable=False),
    Column("product", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    UniqueConstraint("idempotency_key", name="uq_ledger_entries_idempotency_key"),
    UniqueConstraint("batch_id", "seq", name="uq_ledger_entries_batch_seq"),
)

lot_usage = Table(
    "lot_usage",
    metadata,
    Column("lot", Text, nullable=False),
    Column("batch_id", Text, nullable=False),
    Column("coi", Text, nullable=True),
    Column("step", Text, nullable=True),
    Column("at", Text, nullable=False),
    UniqueConstraint("lot", "batch_id", name="uq_lot_usage_lot_batch"),
)

# Which batch made each lot (a lot made from lots: vector -> drug substance -> vials), written
# when the lot enters inventory; with `lot_usage` it lets a recall follow every level down.
lot_origins = Table(
    "lot_origins",
    metadata,
    Column("lot", Text, primary_key=True),
    Column("batch_id", Text, nullable=False, index=True),
    Column("product", Text, nullable=False),
    Column("at", Text, nullable=False),
)

# Signed chain heads (see `records.checkpoints`): what a rewritten chain is held against.
ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("checkpoint_id", Text, nullable=False),
    Column("batch_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("entry_hash", String(64), nullable=False),
    # The exact ISO 8601 text that was signed, like `ledger_entries.at`.
    Column("at", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("signature", Text, nullable=False),
    UniqueConstraint("checkpoint_id", name="uq_ledger_checkpoints_checkpoint_id"),
    UniqueConstraint("batch_id", "seq", name="uq_ledger_checkpoints_batch_seq"),
)

#: Message raised by the database when anything tries to change a ledger entry.
APPEND_ONLY_MESSAGE = "ledger entries are append-only"
_LOT_USAGE_MESSAGE = "lot usage is append-only"
_LOT_ORIGINS_MESSAGE = "lot origins are append-only"
#: Message raised by the database when anything tries to change a checkpoint.
CHECKPOINTS_APPEND_ONLY_MESSAGE = "ledger checkpoints are append-only"

#: Trigger names, public so that a tamper test can remove them behind the application's back.
SQLITE_TRIGGERS = {
    "ledger_entries": ("ledger_entries_no_update", "ledger_entries_no_delete"),
    "lot_usage": ("lot_usage_no_update", "lot_usage_no_delete"),
    "lot_origins": ("lot_origins_no_update", "lot_origins_no_delete"),
    "ledger_checkpoints": ("ledger_checkpoints_no_update", "ledger_checkpoints_no_delete"),
}
POSTGRES_TRIGGERS = {
    "ledger_entries": ("ledger_entries_append_only", "ledger_entries_no_truncate"),
    "lot_usage": ("lot_usage_append_only", "lot_usage_no_truncate"),
    "lot_origins": ("lot_origins_append_only", "lot_origins_no_truncate"),
    "ledger_checkpoints": ("ledger_checkpoints_append_only", "ledger_checkpoints_no_truncate"),
}

_PG_REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION vein2vein_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% (% refused)', TG_ARGV[0], TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""

# CREATE TRIGGER has no IF NOT EXISTS before PostgreSQL 14 and CREATE OR REPLACE TRIGGER would
# briefly leave the table unguarded on older servers, so check the catalogue instead.
_PG_TRIGGER = """
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger
        WHERE tgname = '{name}' AND tgrelid = '{table}'::regclass
    ) THEN
        CREATE TRIGGER {name} BEFORE {events} ON {table}
        FOR EACH {level} EXECUTE FUNCTION vein2vein_refuse_change('{message}');
    END IF;
END
$$
"""

_SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS {name} BEFORE {event} ON {table}
BEGIN
    SELECT RAISE(ABORT, '{message}');
END
"""


def install_append_only_guards(conn: Connection) -> None:
    """Create the triggers that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL)."""
    messages = {
        "ledger_entries": APPEND_ONLY_MESSAGE,
        "lot_usage": _LOT_USAGE_MESSAGE,
        "lot_origins": _LOT_ORIGINS_MESSAGE,
        "ledger_checkpoints": CHECKPOINTS_APPEND_ONLY_MESSAGE,
    }
    if conn.dialect.name == "sqlite":
        for table, (on_update, on_delete) in SQLITE_TRIGGERS.items():
            for name, event in ((on_update, "UPDATE"), (on_delete, "DELETE")):
                ddl = _SQLITE_TRIGGER.format(
                    name=name, event=event, table=table, message=messages[table]
                )
                conn.execute(text(ddl))
        return
    conn.execute(text(_PG_REFUSE_FUNCTION))
    for table, (row_trigger, truncate_trigger) in POSTGRES_TRIGGERS.items():
        for name, events, level in (
            (row_trigger, "UPDATE OR DELETE", "ROW"),
            (truncate_trigger, "TRUNCATE", "STATEMENT"),
        ):
            ddl = _PG_TRIGGER.format(
                name=name, table=table, events=events, level=level, message=messages[table]
            )
            conn.execute(text(ddl))


def missing_guards(conn: Connection) -> list[str]:
    """The append-only triggers `install_append_only_guards` creates that are not in the
    database now (empty: every guard is in place). Installation qualification reads this."""
    if conn.dialect.name == "sqlite":
        expected = {n for pair in SQLITE_TRIGGERS.values() for n in pair}
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    else:
        expected = {n for pair in POSTGRES_TRIGGERS.values() for n in pair}
        rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
    present = {str(r[0]) for r in rows}
    return sorted(expected - present)
