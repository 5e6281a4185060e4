"""Many batches appending at once, with retried (re-sent) calls racing the originals."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from records import Ledger
from records._schema import ledger_entries
from tests.records.factories import events

BATCHES = [f"B-CONC{n:04d}" for n in range(20)]
EVENTS_PER_BATCH = 30
CHUNK = 5
SENDERS_PER_BATCH = 2  # the original activity attempt and its retry, running at once


def test_concurrent_batches_append_without_gaps_or_duplicates(ledger_url: str) -> None:
    # Enough connections for every thread, so the database (not the pool) does the serialising.
    threads = len(BATCHES) * SENDERS_PER_BATCH
    with Ledger.from_url(ledger_url, pool_size=threads, max_overflow=0) as ledger:
        ledger.create_schema()
        start = threading.Barrier(threads)

        def send(batch_id: str) -> int:
            history = events(batch_id, EVENTS_PER_BATCH)
            start.wait()
            written = 0
            for first in range(0, EVENTS_PER_BATCH, CHUNK):
                chunk = history[first : first + CHUNK]
                written += ledger.append(chunk)
                written += ledger.append(chunk)  # a retried activity sends the chunk again
            return written

        with ThreadPoolExecutor(max_workers=threads) as pool:
            senders = [b for b in BATCHES for _ in range(SENDERS_PER_BATCH)]
            written = sum(pool.map(send, senders))

        everything = [e for b in BATCHES for e in events(b, EVENTS_PER_BATCH)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            resent = sum(pool.map(ledger.append, [everything, everything[::-1]]))

        assert written == len(BATCHES) * EVENTS_PER_BATCH
        assert resent == 0
        assert ledger.count() == len(BATCHES) * EVENTS_PER_BATCH
        assert ledger.batches() == BATCHES
        for batch_id in BATCHES:
            assert [e.seq for e in ledger.entries(batch_id)] == list(range(1, 31))
        duplicates = (
            select(ledger_entries.c.idempotency_key)
            .group_by(ledger_entries.c.idempotency_key)
            .having(func.count() > 1)
        )
        with ledger.engine.connect() as conn:
            assert conn.execute(duplicates).all() == []
        report = ledger.verify()
        assert report.ok, report.first_break
        assert (report.batches_checked, report.entries_checked) == (20, 600)
