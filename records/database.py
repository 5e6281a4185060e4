"""The one way vein2vein opens a SQLite file database (the ledger's and the service's)."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry


def sqlite_file_engine(url: URL, *, purpose: str, timeout: float, **options: Any) -> Engine:
    """An engine on a SQLite *file* in WAL mode, the file created with mode 0600 (and its
    directory with 0700) before SQLite opens it, so it is never readable by others.

    In-memory databases are refused: each pooled connection would see a database of its own.
    `timeout` is how long a writer waits for the lock instead of failing under load.
    """
    if url.database in (None, "", ":memory:") or "mode=memory" in str(url):
        raise ValueError(f"the {purpose} needs a SQLite file, not an in-memory database")
    if not url.query.get("uri"):
        private_file(Path(url.database or "").expanduser())
    connect_args = dict(options.pop("connect_args", {}))
    connect_args.setdefault("timeout", timeout)
    engine = create_engine(url, connect_args=connect_args, **options)
    event.listen(engine, "connect", _wal)
    return engine


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 (its directory 0700) unless it exists.

    SQLite creates a missing database with 0644 less the umask, and gives its `-wal`, `-shm`
    and `-journal` files the database's mode; made here first, all of them are 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


@functools.cache
def engine_for(url: str) -> Engine:
    """One engine per database URL per process for the tables kept beside the ledger (the
    service's, the external tasks'); SQLite gets WAL and a patient lock wait."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    return sqlite_file_engine(parsed, purpose="service", timeout=30)


def _wal(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers (verify, exports, the console) run while a writer appends.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


#: Execution option telling a SQLite engine's begin hook (`records.ledger`) to take the write
#: lock up front (BEGIN IMMEDIATE); other databases ignore it.
SQLITE_WRITE = "vein2vein_sqlite_write"


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that owns SQLite's write lock before it reads: a deferred transaction
    that read and then writes fails at once ("database is locked") when another connection
    wrote in between, whatever the busy timeout; an immediate one waits for the lock."""
    with engine.connect() as conn:
        conn.execution_options(**{SQLITE_WRITE: True})
        with conn.begin():
            yield conn
