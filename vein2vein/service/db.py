"""The service's own tables, kept in the ledger's database beside (never inside) the ledger.

Every replica of the service shares them, so nothing about people, sessions or tokens lives in
a replica's files.

- `security_events`: password checks, throttling, administration (users, roles, tokens,
  sessions) and refused and accepted decisions (21 CFR 11.300(d): attempts at unauthorised use
  are recorded). Append-only: the database refuses UPDATE and DELETE, as it does for the ledger.
- `service_users`: people; `service_user_identities` maps an external identity (OIDC issuer and
  subject) to one of them; `service_sessions`: console sessions by the SHA-256 of their opaque
  id; `service_login_throttle`: failed sign-ins per account and per client address;
  `service_api_tokens`: integration tokens by the SHA-256 of their secret;
  `service_oidc_requests`: single sign-on requests sent to the identity provider and not yet
  answered (state, nonce, PKCE verifier, and a decision waiting for its re-authentication).
- `service_idempotency`: Idempotency-Key -> the first answer, per caller.
- `service_orders`: which batch each treatment order started (never the patient's pseudonym).

The external tasks' table (`service_tasks`) is in `records.external_tasks`, which the activity
that hands work outside writes without importing the service.
"""

from __future__ import annotations

import functools

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import OperationalError

from records.database import engine_for

metadata = MetaData()
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

security_log = Table(
    "security_events",
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

users = Table(
    "service_users",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("printed_name", Text, nullable=False),
    Column("roles", Text, nullable=False),  # role values, comma-separated
    # NULL: no password (removed, or signs in only through an external identity).
    Column("password_hash", Text, nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Text, nullable=False),
    Column("changed_at", Text, nullable=True),
    # A removed user keeps its row so that the id is never given to somebody else (11.300(a)).
    Column("removed_at", Text, nullable=True),
    # Set when somebody else chose the password (an admin, the demo): it must be changed first.
    Column("must_change_password", Boolean, nullable=False, default=False),
)

user_identities = Table(
    "service_user_identities",
    metadata,
    Column("issuer", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("user_id", Text, ForeignKey("service_users.user_id"), nullable=False, index=True),
    Column("linked_at", Text, nullable=False),
    Column("linked_by", Text, nullable=False),
    PrimaryKeyConstraint("issuer", "subject", name="pk_service_user_identities"),
)

sessions = Table(
    "service_sessions",
    metadata,
    Column("id_sha256", Text, primary_key=True),
    Column("user_id", Text, nullable=False, index=True),
    # How the person proved who they are: "password", later "oidc:<issuer>".
    Column("method", Text, nullable=False),
    Column("address", Text, nullable=False, default=""),
    Column("created_at", Text, nullable=False),
    Column("last_seen_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
    Column("revoked_at", Text, nullable=True),
    Column("revoked_by", Text, nullable=True),
)

oidc_requests = Table(
    "service_oidc_requests",
    metadata,
    # The SHA-256 of the `state` sent to the provider; a row is taken (deleted) once.
    Column("state_sha256", Text, primary_key=True),
    Column("purpose", Text, nullable=False),  # "login" or "sign"
    # Login: the SHA-256 of the browser's flow cookie; signing: the session's SHA-256.
    Column("binding", Text, nullable=False),
    Column("nonce", Text, nullable=False),
    Column("code_verifier", Text, nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("payload", Text, nullable=False),  # JSON: where to go next, or the pending decision
    Column("created_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
)

login_throttle = Table(
    "service_login_throttle",
    metadata,
    # "account:<sha256 of the name typed>" or "address:<client address>".
    Column("key", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", Text, nullable=False),
    Column("blocked_until", Text, nullable=True),
)

api_tokens = Table(
    "service_api_tokens",
    metadata,
    Column("token_id", Text, primary_key=True),
    Column("client", Text, nullable=False, index=True),
    Column("scopes", Text, nullable=False),  # comma-separated
    Column("secret_sha256", Text, nullable=False),
    Column("site", Text, nullable=True),  # NULL: any site
    Column("created_at", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
    Column("revoked_at", Text, nullable=True),
    Column("revoked_by", Text, nullable=True),
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
    "CREATE TRIGGER IF NOT EXISTS security_events_no_update BEFORE UPDATE ON "
    "security_events BEGIN SELECT RAISE(ABORT, 'the security log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS security_events_no_delete BEFORE DELETE ON "
    "security_events BEGIN SELECT RAISE(ABORT, 'the security log is append-only'); END",
)
#: The log's name before it moved to `security_events`; its rows are copied over once.
_OLD_LOG = "service_security_log"
_LOG_COLUMNS = "at, event, user_id, actor, batch_id, target, detail"
# Without a percent sign anywhere: the driver would read one as a parameter placeholder.
_PG_GUARD = """
CREATE OR REPLACE FUNCTION vein2vein_security_log_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'the security log is append-only (' || TG_OP || ' refused)';
END
$$;
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger WHERE tgname = 'security_events_append_only'
    ) THEN
        CREATE TRIGGER security_events_append_only BEFORE UPDATE OR DELETE
        ON security_events FOR EACH ROW EXECUTE FUNCTION vein2vein_security_log_refuse();
    END IF;
END
$$;
"""


@functools.cache
def _created(url: str) -> bool:
    engine = engine_for(url)
    with engine.begin() as conn:
        metadata.create_all(conn, checkfirst=True)
        _add_new_columns(conn)
        _install_guards(conn)
        _carry_over_old_log(conn)
    return True


def open_database(url: str) -> Engine:
    """The engine for `url` with the service's tables created (once per process)."""
    _created(url)
    return engine_for(url)


#: Columns added to existing tables after their first release: (table, column, SQL type and
#: default). `create_all` makes new tables whole but never alters an existing one.
_ADDED_COLUMNS = (("service_users", "must_change_password", "BOOLEAN NOT NULL DEFAULT FALSE"),)


def _add_new_columns(conn: Connection) -> None:
    """Add the `_ADDED_COLUMNS` a database made by an older version lacks."""
    inspector = inspect(conn)
    for table, column, ddl in _ADDED_COLUMNS:
        if column in {c["name"] for c in inspector.get_columns(table)}:
            continue
        if conn.dialect.name == "postgresql":
            # Another replica starting at the same moment may have added it meanwhile.
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {ddl}"))
        else:
            try:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))
            except OperationalError as err:
                # Another process on the same file added it between our look and our change.
                if "duplicate column" not in str(err):
                    raise


def _install_guards(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for ddl in _SQLITE_GUARDS:
            conn.execute(text(ddl))
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_PG_GUARD)


def _carry_over_old_log(conn: Connection) -> None:
    """Copy the log kept under its old name into `security_events`, once (while it is empty)."""
    if not inspect(conn).has_table(_OLD_LOG):
        return
    if conn.execute(select(security_log.c.id).limit(1)).first() is not None:
        return
    conn.execute(
        text(
            f"INSERT INTO security_events ({_LOG_COLUMNS}) "
            f"SELECT {_LOG_COLUMNS} FROM {_OLD_LOG} ORDER BY id"
        )
    )
