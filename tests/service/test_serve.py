"""`serve()` as `vein2vein dev` and `vein2vein serve` run it: connects in the background, answers
503 until Temporal is reachable, and stops when told."""

from __future__ import annotations

import asyncio

import httpx

from tests.harness import Harness
from tests.service.support import free_port, make_token
from vein2vein.service import serve
from vein2vein.settings import Settings


async def test_serve_connects_and_stops(harness: Harness, service_settings: Settings) -> None:
    address = harness.client.service_client.config.target_host
    settings = service_settings.model_copy(update={"temporal_address": address})
    token = make_token(settings, "serve-check", ["read"])
    port, stop = free_port(), asyncio.Event()
    running = asyncio.create_task(serve(settings, stop, "127.0.0.1", port))
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            status = 0
            for _ in range(200):
                try:
                    r = await http.get(
                        "/api/batches/B-NOSUCHBATCH", headers={"Authorization": f"Bearer {token}"}
                    )
                    status = r.status_code
                except httpx.TransportError:
                    status = 0
                if status not in (0, 503):
                    break
                await asyncio.sleep(0.05)
            assert status == 404, "connected to Temporal, which does not know the batch"
            assert (await http.get("/openapi.json")).json()["info"]["title"] == "vein2vein"
            assert (await http.get("/api/health")).json() == {"status": "ok"}
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)
    assert running.done() and running.exception() is None
