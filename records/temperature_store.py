"""Where custody legs' temperature series are kept: one row per series, keyed by its SHA-256.

The series live in the records database beside the ledger (SQLite or PostgreSQL), because the
workflow only ever sees their summaries. Storing is idempotent (the same series twice is one
row) and a row is checked against its key when read, so a series changed behind the store's
back is refused rather than shown as evidence.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Insert,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url

from records.database import sqlite_file_engine
from records.ledger import DEFAULT_URL, LEDGER_URL_ENV
from records.temperature import TemperatureSeries

_metadata = MetaData()

temperature_series = Table(
    "temperature_series",
    _metadata,
    Column("sha256", String(64), primary_key=True),
    Column("batch_id", Text, nullable=False),
    Column("step", Text, nullable=False),
    Column("logger_id", Text, nullable=False),
    Column("interval_seconds", Float, nullable=False),
    Column("readings", Integer, nullable=False),
    # ISO 8601 text, like the ledger's times: exact and the same on both databases.
    Column("first_at", Text, nullable=False),
    Column("last_at", Text, nullable=False),
    Column("stored_at", Text, nullable=False),
    # The canonical JSON the key hashes, so a read can prove the row is unchanged.
    Column("series_json", Text, nullable=False),
    Index("ix_temperature_series_batch", "batch_id", "step"),
)


class SeriesCorrupted(ValueError):
    """A stored series no longer hashes to its key: it was changed after it was stored."""


class StoredSeries(BaseModel):
    """What the store knows about one series without reading its readings."""

    model_config = ConfigDict(frozen=True)

    sha256: str
    batch_id: str
    step: str
    logger_id: str
    interval_seconds: float
    readings: int
    first_at: datetime
    last_at: datetime
    stored_at: datetime


class TemperatureStore:
    """Temperature series in SQLite or PostgreSQL, content-addressed. Thread-safe."""

    def __init__(self, url: str | URL | Engine | None = None, **engine_options: Any) -> None:
        """Open the store on an engine, or at `url` (else the ledger's database).

        Passing the ledger's engine (`Ledger.engine`) shares its connections; the store then
        never closes it.
        """
        if isinstance(url, Engine):
            self._engine, self._owned = url, False
            return
        resolved = make_url(url or os.environ.get(LEDGER_URL_ENV) or DEFAULT_URL)
        if resolved.get_backend_name() == "sqlite":
            self._engine = sqlite_file_engine(
                resolved, purpose="temperature store", timeout=60, **engine_options
            )
        else:
            self._engine = create_engine(resolved, **engine_options)
        self._owned = True

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for tests and administration."""
        return self._engine

    def close(self) -> None:
        """Close the engine's connections, if the store opened it."""
        if self._owned:
            self._engine.dispose()

    def create_schema(self) -> None:
        """Create the table if missing; safe to call at every start."""
        with self._engine.begin() as conn:
            _metadata.create_all(conn, checkfirst=True)

    def put(self, series: TemperatureSeries) -> str:
        """Store `series` once and return its SHA-256; storing it again changes nothing."""
        digest = series.sha256()
        row = {
            "sha256": digest,
            "batch_id": series.batch_id,
            "step": series.step,
            "logger_id": series.logger_id,
            "interval_seconds": series.interval_seconds,
            "readings": len(series.readings),
            "first_at": series.readings[0][0].astimezone(UTC).isoformat(),
            "last_at": series.readings[-1][0].astimezone(UTC).isoformat(),
            "stored_at": datetime.now(UTC).isoformat(),
            "series_json": series.canonical_json(),
        }
        with self._engine.begin() as conn:
            conn.execute(self._insert_once(), [row])
        return digest

    def get(self, sha256: str) -> TemperatureSeries | None:
        """The series stored under `sha256`, or None; `SeriesCorrupted` if it was altered."""
        stmt = select(temperature_series.c.series_json).where(temperature_series.c.sha256 == sha256)
        with self._engine.connect() as conn:
            text = conn.scalar(stmt)
        if text is None:
            return None
        series = TemperatureSeries.model_validate_json(text)
        if series.sha256() != sha256:
            raise SeriesCorrupted(f"temperature series {sha256} no longer matches its hash")
        return series

    def for_batch(self, batch_id: str) -> list[StoredSeries]:
        """Every series stored for `batch_id`, by step and first reading."""
        columns = [c for c in temperature_series.c if c.name != "series_json"]
        stmt = (
            select(*columns)
            .where(temperature_series.c.batch_id == batch_id)
            .order_by(temperature_series.c.step, temperature_series.c.first_at)
        )
        with self._engine.connect() as conn:
            return [StoredSeries.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]

    def _insert_once(self) -> Insert:
        # Content-addressed: a second copy of the same series is the same row.
        if self._engine.dialect.name == "postgresql":
            return pg_insert(temperature_series).on_conflict_do_nothing()
        return sqlite_insert(temperature_series).on_conflict_do_nothing()
