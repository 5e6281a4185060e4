"""Fixtures of the record-store tests: every ledger test runs on SQLite and on PostgreSQL.

PostgreSQL comes from, in order: `$VEIN2VEIN_TEST_POSTGRES_URL` (an existing server, e.g. a CI
service container; the tests create and drop their own databases there), else a throwaway
cluster started from the local server binaries (see `pg_cluster.py`). Without either, the
PostgreSQL tests fail with instructions, unless `VEIN2VEIN_SKIP_POSTGRES=1` skips them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from records import Ledger
from tests.records.pg_cluster import PostgresCluster, find_bin_dir

_SKIP_ENV = "VEIN2VEIN_SKIP_POSTGRES"
_EXTERNAL_ENV = "VEIN2VEIN_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on a PostgreSQL server's `postgres` database, for CREATE DATABASE."""
    if os.environ.get(_SKIP_ENV) == "1":
        pytest.skip(f"{_SKIP_ENV}=1: PostgreSQL tests skipped")
    cluster: PostgresCluster | None = None
    url = os.environ.get(_EXTERNAL_ENV)
    if not url:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            pytest.fail(
                "PostgreSQL server binaries (initdb, pg_ctl) were not found in"
                " /usr/lib/postgresql/*/bin, $VEIN2VEIN_PG_BIN or PATH. Install them"
                " (Debian/Ubuntu: apt-get install -y postgresql), or point"
                f" {_EXTERNAL_ENV} at a server, or set {_SKIP_ENV}=1 to skip these tests.",
                pytrace=False,
            )
        cluster = PostgresCluster.start(bin_dir)
        url = cluster.url
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        yield engine
    finally:
        engine.dispose()
        if cluster is not None:
            cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    name = f"ledger_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        # PostgreSQL 15's default strategy WAL-logs the whole template: ten times slower here.
        fast = (conn.dialect.server_version_info or (0,)) >= (15,)
        conn.execute(text(f'CREATE DATABASE "{name}"' + (" STRATEGY FILE_COPY" if fast else "")))
    yield make_url(admin.url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """A ledger with its schema created, on SQLite and on PostgreSQL."""
    with Ledger.from_url(ledger_url) as opened:
        opened.create_schema()
        yield opened
