"""Request body limits: refused with 413 before a body is buffered, declared or chunked.

The service runs under uvicorn on loopback (no Temporal: every refusal here comes before a
route would need it), with small limits so that the tests send little.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from records.temperature import MAX_READINGS, SeriesReadings
from tests.service.support import free_port
from vein2vein.service.app import QuietServer, create_app
from vein2vein.settings import DEFAULT_MAX_EVENT_BODY_BYTES, Settings

LIMIT = 4096
EVENT_LIMIT = 16384


@pytest.fixture
async def small_limits(tmp_path: Path) -> AsyncIterator[str]:
    """The service with a 4 KiB body limit (16 KiB for events), served by uvicorn."""
    settings = Settings(data_dir=tmp_path, max_body_bytes=LIMIT, max_event_body_bytes=EVENT_LIMIT)
    app = create_app(settings, catalog={})
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def _raw_post(url: str, path: str, headers: str) -> bytes:
    """Send a request head only (no body byte) and read the answer until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


async def test_a_declared_length_over_the_limit_is_refused_before_any_body_is_sent(
    small_limits: str,
) -> None:
    head = "Content-Type: application/json\r\nContent-Length: 67108864\r\nConnection: close\r\n"
    answer = await asyncio.to_thread(_raw_post, small_limits, "/api/batches", head)
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413"), answer[:200]
    assert json.loads(body)["detail"] == (
        f"request body too large: at most {LIMIT} bytes are accepted here"
    )


async def _chunks(total: int, size: int = 1024) -> AsyncIterator[bytes]:
    """A JSON body of about `total` bytes, sent chunked (httpx gives no Content-Length)."""
    yield b'{"pad": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


async def test_a_large_declared_body_gets_its_413_after_sending(small_limits: str) -> None:
    """A client that sends its whole body before reading (httpx does) reads the 413."""
    async with httpx.AsyncClient(base_url=small_limits) as http:
        r = await http.post("/api/batches", content=b"x" * (8 << 20))
        again = await http.get("/api/health")  # the same connection still serves
    assert r.status_code == 413, r.text
    assert again.status_code == 200


async def test_a_chunked_body_over_the_limit_is_refused(small_limits: str) -> None:
    async with httpx.AsyncClient(base_url=small_limits) as http:
        r = await http.post(
            "/api/batches",
            content=_chunks(3 * LIMIT),
            headers={"Content-Type": "application/json", "Idempotency-Key": "k"},
        )
    assert r.status_code == 413, r.text
    assert r.json() == {
        "detail": f"request body too large: at most {LIMIT} bytes are accepted here"
    }


async def test_events_have_their_own_larger_limit(small_limits: str) -> None:
    async with httpx.AsyncClient(base_url=small_limits) as http:
        under = await http.post("/api/events", content=b" " * (EVENT_LIMIT - 10))
        over = await http.post("/api/events", content=b" " * (EVENT_LIMIT + 1))
        chunked = await http.post("/api/events", content=_chunks(EVENT_LIMIT + 1024))
        elsewhere = await http.post("/api/batches", content=b" " * (LIMIT + 1))
    assert under.status_code == 401, under.text  # read, then refused for want of a token
    assert (over.status_code, chunked.status_code, elsewhere.status_code) == (413, 413, 413)
    assert str(EVENT_LIMIT) in over.json()["detail"]


async def test_a_chunked_body_is_never_read_past_the_limit(tmp_path: Path) -> None:
    """At the ASGI level: the service stops asking for chunks once the limit is passed."""
    settings = Settings(data_dir=tmp_path, max_body_bytes=LIMIT)
    app = create_app(settings, catalog={})
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        await asyncio.sleep(0)
        return {"type": "http.request", "body": b"x" * 1024, "more_body": asked < 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/batches",
        "raw_path": b"/api/batches",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"service.test"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await asyncio.wait_for(app(scope, receive, send), 5)
    assert asked == LIMIT // 1024 + 1
    assert sent[0]["status"] == 413


def test_a_maximal_temperature_series_fits_the_default_event_limit() -> None:
    """`MAX_READINGS` readings, pretty-printed with microsecond times and 17-digit values,
    inside a custody report, stay under the default limit of `POST /api/events`."""
    start = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
    readings = [
        [(start + timedelta(minutes=i)).isoformat(), -196.12345678901234 + i * 1e-9]
        for i in range(MAX_READINGS)
    ]
    series = {"logger_id": "L" * 80, "interval_seconds": 60, "readings": readings}
    SeriesReadings.model_validate(series)
    report = {
        "event_id": "e" * 200,
        "batch_id": "B-0123456789",
        "step": "receipt_at_site",
        "type": "custody",
        "occurred_at": start.isoformat(),
        "temperature_series": series,
    }
    size = len(json.dumps(report, indent=4).encode())
    assert size < DEFAULT_MAX_EVENT_BODY_BYTES * 0.75, size
