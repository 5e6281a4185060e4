"""The service's own tables, kept in the ledger's database beside (never inside) the ledger.

- `service_security_log`: failed and successful password checks, lockouts, unlocks, refused and
  accepted decisions (21 CFR 11.300(d): attempts at unauthorised use are recorded). Append-only:
  the database refuses UPDATE and DELETE, as it does for the ledger.
- `service_idempotency`: Idempotency-Key -> the first answer, per caller.
- `service_orders`: which batch each treatment order started (never the patient's pseudonym).

The external tasks' table (`service_tasks`) is in `records.external_tasks`, which the activity
that hands work outside writes without importing the service.
"""

from __future__ import annotations

import functools

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)

from records.database import engine_for

metadata = MetaData()
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

security_log = Table(
    "service_security_log",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("user_id", Text, nullable=True, index=True),
    Column("actor", Text, nullable=False),
    Column("batch_id", Text, nullable=True),
    Column("target", Text, nullable=True),
    Column("detail", Text, nullable=False, default=""),
)

idempotency = Table(
    "service_idempotency",
    metadata,
    Column("caller", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("status", Integer, nullable=True),  # NULL while the first request is in flight
    Column("body", Text, nullable=True),
    Column("created_at", Text, nullable=False),
    PrimaryKeyConstraint("caller", "key", name="pk_service_idempotency"),
)

orders = Table(
    "service_orders",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("batch_id", Text, nullable=False, unique=True),
    Column("product", Text, nullable=False),
    Column("started_at", Text, nullable=False),
    Column("started_by", Text, nullable=False),
)

_SQLITE_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS service_security_log_no_update BEFORE UPDATE ON "
    "service_security_log BEGIN SELECT RAISE(ABORT, 'the security log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS service_security_log_no_delete BEFORE DELETE ON "
    "service_security_log BEGIN SELECT RAISE(ABORT, 'the security log is append-only'); END",
)
_PG_GUARD = """
CREATE OR REPLACE FUNCTION vein2vein_security_log_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the security log is append-only (% refused)', TG_OP;
END
$$;
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger WHERE tgname = 'service_security_log_append_only'
    ) THEN
        CREATE TRIGGER service_security_log_append_only BEFORE UPDATE OR DELETE
        ON service_security_log FOR EACH ROW EXECUTE FUNCTION vein2vein_security_log_refuse();
    END IF;
END
$$;
"""


@functools.cache
def _created(url: str) -> bool:
    engine = engine_for(url)
    with engine.begin() as conn:
        metadata.create_all(conn, checkfirst=True)
        _install_guards(conn)
    return True


def open_database(url: str) -> Engine:
    """The engine for `url` with the service's tables created (once per process)."""
    _created(url)
    return engine_for(url)


def _install_guards(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for ddl in _SQLITE_GUARDS:
            conn.execute(text(ddl))
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_PG_GUARD)
