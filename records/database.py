"""The one way vein2vein opens a SQLite file database (the ledger's and the service's)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry


def sqlite_file_engine(url: URL, *, purpose: str, timeout: float, **options: Any) -> Engine:
    """An engine on a SQLite *file* in WAL mode, its directory created.

    In-memory databases are refused: each pooled connection would see a database of its own.
    `timeout` is how long a writer waits for the lock instead of failing under load.
    """
    if url.database in (None, "", ":memory:") or "mode=memory" in str(url):
        raise ValueError(f"the {purpose} needs a SQLite file, not an in-memory database")
    if not url.query.get("uri"):
        Path(url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = dict(options.pop("connect_args", {}))
    connect_args.setdefault("timeout", timeout)
    engine = create_engine(url, connect_args=connect_args, **options)
    event.listen(engine, "connect", _wal)
    return engine


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
