"""The idempotency store on its own: first answer kept, in-flight and abandoned requests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update

from vein2vein.service.db import idempotency, open_database
from vein2vein.service.idempotency import IN_FLIGHT, Answer, IdempotencyStore


async def test_first_answer_kept_in_flight_refused_server_errors_released(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = IdempotencyStore(url, b"k" * 32)
    calls: list[int] = []
    gate = asyncio.Event()

    async def slow() -> Answer:
        calls.append(1)
        await gate.wait()
        return 201, {"n": len(calls)}

    fp = store.fingerprint("POST", "/x", {"a": 1})
    first = asyncio.create_task(store.once("c", "key-1", fp, slow))
    await asyncio.sleep(0.05)
    assert await store.once("c", "key-1", fp, slow) == (409, {"detail": IN_FLIGHT}, False)
    gate.set()
    assert await first == (201, {"n": 1}, False)
    assert await store.once("c", "key-1", fp, slow) == (201, {"n": 1}, True)
    assert calls == [1]
    assert (await store.once("other-caller", "key-1", fp, slow))[0] == 201, "keys are per caller"

    async def broken() -> Answer:
        return 503, {"detail": "temporal down"}

    assert (await store.once("c", "key-2", fp, broken))[0] == 503
    assert (await store.once("c", "key-2", fp, slow))[0] == 201, "a 5xx frees the key"


async def test_a_request_left_in_flight_by_a_dead_server_frees_its_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = IdempotencyStore(url, b"k" * 32)
    fp = store.fingerprint("POST", "/x", {})
    assert store._try_claim("c", "key", fp) is None  # claimed, then the server died
    with open_database(url).begin() as conn:
        conn.execute(
            update(idempotency).values(created_at=datetime(2000, 1, 1, tzinfo=UTC).isoformat())
        )

    async def ok() -> Answer:
        return 200, {"ok": True}

    assert await store.once("c", "key", fp, ok) == (200, {"ok": True}, False)
