"""The ledger: an append-only, hash-chained store of audit events that outlives Temporal.

Temporal deletes a workflow's history after its retention period; a batch record must be kept
for decades (EU: 30 years after expiry for ATMP traceability). Every `AuditEvent` a batch
records is therefore projected exactly once into `ledger_entries`, in a real database:
SQLite by default, PostgreSQL in production. Three layers keep the entries trustworthy:

- the database refuses UPDATE and DELETE on the table (triggers, see `records._schema`);
- each entry's `entry_hash` covers its content and the previous entry's hash, so an entry
  changed or removed behind the database's back breaks the chain, and `Ledger.verify` names
  the first broken link; signed checkpoints of the chain heads, kept outside the database
  too, expose a chain that was rewritten and re-hashed (`records.checkpoints`);
- appends are idempotent (`AuditEvent.idempotency_key`) and gap-free, so retried activities
  never write twice and a lost event cannot go unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Row, create_engine, event, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from records._chain import (
    CONTENT_COLUMNS,
    GENESIS_HASH,
    Break,
    Content,
    chain_hash,
    event_content,
    row_content,
)
from records._schema import (
    install_append_only_guards,
    ledger_entries,
    lot_usage,
    metadata,
    missing_guards,
)
from records.database import SQLITE_WRITE, sqlite_file_engine, write_transaction
from records.genealogy import LotUse
from records.verification import VerifyReport, verify_ledger

__all__ = [
    "DEFAULT_URL",
    "LEDGER_URL_ENV",
    "LOT_CONSUMED",
    "Break",
    "Ledger",
    "LedgerConflictError",
    "LedgerError",
    "LedgerGapError",
    "LotUse",
    "VerifyReport",
]
from workflows.model import AuditEvent

#: Environment variable naming the ledger database when no URL is given.
LEDGER_URL_ENV = "VEIN2VEIN_LEDGER_URL"
#: The ledger used when neither an URL nor `LEDGER_URL_ENV` is given (relative to the cwd).
DEFAULT_URL = "sqlite:///.vein2vein/ledger.db"
#: Audit action that also records lot genealogy (see `Ledger.append`).
LOT_CONSUMED = "lot.consumed"

_SUPPORTED_DIALECTS = ("sqlite", "postgresql")
# Advisory-lock namespaces (first key of pg_advisory_xact_lock(int, int)), so the ledger's
# locks never collide with locks another part of the deployment takes.
_PG_BATCH_LOCK_CLASS = 0x7E1B
_PG_SCHEMA_LOCK_CLASS = 0x7E1C


class LedgerError(Exception):
    """Base class of the ledger's own errors."""


class LedgerGapError(LedgerError, ValueError):
    """An event would leave a hole in its batch's sequence (seq != last seq + 1)."""


class LedgerConflictError(LedgerError, ValueError):
    """An event reuses an idempotency key already stored with different content."""


class Ledger:
    """An append-only, hash-chained ledger of audit events in SQLite or PostgreSQL.

    Thread-safe: share one instance per process. Several processes may append to the same
    database at once; per-batch ordering is serialised by the database (BEGIN IMMEDIATE on
    SQLite, a per-batch advisory lock on PostgreSQL).
    """

    def __init__(self, url: str | URL | None = None, **engine_options: Any) -> None:
        """Open the ledger at `url` (else `$VEIN2VEIN_LEDGER_URL`, else `DEFAULT_URL`).

        `engine_options` go to `sqlalchemy.create_engine` (e.g. `pool_size`). An in-memory
        SQLite database is not supported: each pooled connection would see its own database.
        """
        resolved = make_url(url or os.environ.get(LEDGER_URL_ENV) or DEFAULT_URL)
        dialect = resolved.get_backend_name()
        if dialect not in _SUPPORTED_DIALECTS:
            raise ValueError(f"unsupported ledger database {dialect!r}: use sqlite or postgresql")
        if dialect == "sqlite":
            self._engine = _sqlite_engine(resolved, engine_options)
        else:
            self._engine = create_engine(resolved, **engine_options)

    @classmethod
    def from_url(cls, url: str | URL | None = None, **engine_options: Any) -> Ledger:
        """Open the ledger at `url`; the same as calling `Ledger(url)`."""
        return cls(url, **engine_options)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for administration and tests; never write through it."""
        return self._engine

    @property
    def dialect(self) -> str:
        """The database kind: "sqlite" or "postgresql"."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def create_schema(self) -> None:
        """Create the tables and append-only triggers if missing; safe to call every start."""
        with self.write_transaction() as conn:
            if self.dialect == "postgresql":
                # Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalogue.
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(CAST(:c AS integer), 0)"),
                    {"c": _PG_SCHEMA_LOCK_CLASS},
                )
            metadata.create_all(conn, checkfirst=True)
            install_append_only_guards(conn)

    def missing_guards(self) -> list[str]:
        """The append-only triggers missing from the database (empty when all are there)."""
        with self._engine.connect() as conn:
            return missing_guards(conn)

    def append(self, events: Sequence[AuditEvent]) -> int:
        """Write each event exactly once, in one transaction; return how many were new.

        An event whose `idempotency_key` is already stored is skipped (retried activities send
        the same events again), provided its content is identical; different content under the
        same key raises `LedgerConflictError` rather than silently dropping either version.
        Each batch's events must continue its sequence without a gap (the first is seq 1);
        otherwise `LedgerGapError` is raised and nothing from the call is written. Events of
        one batch may arrive in any order within a call: they are written in seq order.

        Lot genealogy convention: an event with action `"lot.consumed"` names the lot in
        `subject` and carries `new_value` = JSON object `{"coi": ..., "step": ...}` (both
        optional strings); it also adds a `lot_usage` row (one per lot and batch). A
        `new_value` that is not a JSON object raises `ValueError`.
        """
        by_batch: dict[str, list[AuditEvent]] = {}
        for item in events:
            by_batch.setdefault(item.batch_id, []).append(item)
        if not by_batch:
            return 0
        written = 0
        with self.write_transaction() as conn:
            # Locks in a fixed order, so two calls spanning the same batches cannot deadlock.
            for batch_id in sorted(by_batch):
                self._lock_batch(conn, batch_id)
            for batch_id in sorted(by_batch):
                batch_events = sorted(by_batch[batch_id], key=lambda e: e.seq)
                written += self._append_batch(conn, batch_id, batch_events)
        return written

    def entries(self, batch_id: str) -> list[AuditEvent]:
        """The batch's audit events in seq order, rebuilt from the ledger."""
        stmt = (
            select(ledger_entries)
            .where(ledger_entries.c.batch_id == batch_id)
            .order_by(ledger_entries.c.seq)
        )
        with self._engine.connect() as conn:
            return [_to_event(row) for row in conn.execute(stmt)]

    def batches(self) -> list[str]:
        """Every batch that has at least one entry, sorted."""
        stmt = select(ledger_entries.c.batch_id).distinct().order_by(ledger_entries.c.batch_id)
        with self._engine.connect() as conn:
            return list(conn.scalars(stmt))

    def where_used(self, lot: str) -> list[LotUse]:
        """Every batch that consumed `lot` itself, oldest first; `records.Genealogy` follows
        the lots made from it too."""
        stmt = (
            select(lot_usage)
            .where(lot_usage.c.lot == lot)
            .order_by(lot_usage.c.at, lot_usage.c.batch_id)
        )
        with self._engine.connect() as conn:
            return [LotUse.model_validate(dict(row._mapping)) for row in conn.execute(stmt)]

    def count(self, batch_id: str | None = None) -> int:
        """Number of entries, of one batch or of the whole ledger."""
        stmt = select(func.count()).select_from(ledger_entries)
        if batch_id is not None:
            stmt = stmt.where(ledger_entries.c.batch_id == batch_id)
        with self._engine.connect() as conn:
            return int(conn.scalar(stmt) or 0)

    def verify(
        self,
        batch_id: str | None = None,
        *,
        public_keys: Mapping[str, str] | None = None,
        checkpoint_file: Path | None = None,
    ) -> VerifyReport:
        """Recompute the chain of one batch (or all) and hold it to its signed checkpoints.

        A link is broken when its seq leaves a gap, its idempotency key does not match its
        position, its `prev_hash` is not the previous entry's hash, or its content no longer
        hashes to its `entry_hash`; the first broken link of each batch is reported. Asking for
        a batch without entries is reported as a break (seq 0): a batch the caller expects but
        the ledger does not hold is not "ok". Every checkpoint in the table (and in
        `checkpoint_file`, a journal or external archive) must still match the chain, and with
        `public_keys` (key id to hex public key) carry a valid signature: see
        `records.verification`.
        """
        with self._engine.connect() as conn:
            return verify_ledger(
                conn, batch_id, public_keys=public_keys, checkpoint_file=checkpoint_file
            )

    @contextmanager
    def write_transaction(self) -> Iterator[Connection]:
        """A write transaction for the record store's own modules (BEGIN IMMEDIATE on SQLite)."""
        with write_transaction(self._engine) as conn:
            yield conn

    def _lock_batch(self, conn: Connection, batch_id: str) -> None:
        # SQLite's BEGIN IMMEDIATE already holds the database's only write lock.
        if self.dialect == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(CAST(:c AS integer), CAST(:k AS integer))"),
                {"c": _PG_BATCH_LOCK_CLASS, "k": _lock_key(batch_id)},
            )

    def _append_batch(self, conn: Connection, batch_id: str, events: list[AuditEvent]) -> int:
        known = self._stored_content(conn, batch_id, events[0].seq, events[-1].seq)
        last_seq, last_hash = self._head(conn, batch_id)
        rows: list[dict[str, object]] = []
        lots: list[dict[str, object]] = []
        for item in events:
            content = event_content(item)
            if item.seq in known:
                if known[item.seq] != content:
                    raise LedgerConflictError(
                        f"ledger already holds {item.idempotency_key} with different content"
                        f" (action {known[item.seq]['action']!r}, offered {item.action!r})"
                    )
                continue
            if item.seq != last_seq + 1:
                raise LedgerGapError(
                    f"batch {batch_id}: got seq {item.seq} but the next entry must be seq"
                    f" {last_seq + 1}; send every event, in order, starting at seq 1"
                )
            entry_hash = chain_hash(last_hash, content)
            rows.append(
                {
                    **content,
                    "idempotency_key": item.idempotency_key,
                    "prev_hash": last_hash,
                    "entry_hash": entry_hash,
                }
            )
            known[item.seq] = content
            last_seq, last_hash = item.seq, entry_hash
            if item.action == LOT_CONSUMED:
                lots.append(_lot_row(item))
        if rows:
            conn.execute(ledger_entries.insert(), rows)
        if lots:
            conn.execute(self._insert_ignoring_duplicates(), lots)
        return len(rows)

    def _insert_ignoring_duplicates(self) -> Insert:
        if self.dialect == "postgresql":
            return pg_insert(lot_usage).on_conflict_do_nothing()
        return sqlite_insert(lot_usage).on_conflict_do_nothing()

    @staticmethod
    def _stored_content(
        conn: Connection, batch_id: str, first: int, last: int
    ) -> dict[int, Content]:
        stmt = select(*(ledger_entries.c[name] for name in CONTENT_COLUMNS)).where(
            ledger_entries.c.batch_id == batch_id,
            ledger_entries.c.seq.between(first, last),
        )
        return {row.seq: row_content(row._mapping) for row in conn.execute(stmt)}

    @staticmethod
    def _head(conn: Connection, batch_id: str) -> tuple[int, str]:
        stmt = (
            select(ledger_entries.c.seq, ledger_entries.c.entry_hash)
            .where(ledger_entries.c.batch_id == batch_id)
            .order_by(ledger_entries.c.seq.desc())
            .limit(1)
        )
        head = conn.execute(stmt).first()
        return (0, GENESIS_HASH) if head is None else (int(head.seq), str(head.entry_hash))


def _sqlite_engine(url: URL, options: dict[str, Any]) -> Engine:
    # Writers queue on BEGIN IMMEDIATE; wait for the lock rather than fail under load.
    engine = sqlite_file_engine(url, purpose="ledger", timeout=60, **options)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # sqlite3's own transaction handling would defer BEGIN to the first write, after our reads:
    # turn it off and let `_sqlite_on_begin` emit BEGIN itself.
    dbapi_connection.isolation_level = None


def _sqlite_on_begin(conn: Connection) -> None:
    # A write transaction must own the write lock before it reads the batch's head; otherwise
    # two writers read the same head and one fails late with "database is locked".
    mode = "IMMEDIATE" if conn.get_execution_options().get(SQLITE_WRITE) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def _lock_key(batch_id: str) -> int:
    # A collision only makes two batches wait for each other; it never breaks correctness.
    return int.from_bytes(hashlib.sha256(batch_id.encode()).digest()[:4], "big", signed=True)


def _lot_row(item: AuditEvent) -> dict[str, object]:
    details: object = {}
    if item.new_value:
        try:
            details = json.loads(item.new_value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{item.idempotency_key}: lot.consumed new_value must be a JSON object"
            ) from exc
    if not isinstance(details, dict):
        raise ValueError(f"{item.idempotency_key}: lot.consumed new_value must be a JSON object")
    coi, step = details.get("coi"), details.get("step")
    return {
        "lot": item.subject,
        "batch_id": item.batch_id,
        "coi": str(coi) if coi is not None else None,
        "step": str(step) if step is not None else None,
        "at": item.model_dump(mode="json", include={"at"})["at"],
    }


def _to_event(row: Row[Any]) -> AuditEvent:
    data = dict(row._mapping)
    signature = data.pop("signature_json")
    return AuditEvent.model_validate(
        {
            **{key: data[key] for key in CONTENT_COLUMNS if key != "signature_json"},
            "signature": json.loads(signature) if signature else None,
        }
    )
