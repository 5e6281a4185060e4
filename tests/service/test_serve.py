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


async def test_metrics_endpoint_is_shared_and_served_while_the_api_answers(
    harness: Harness, service_settings: Settings
) -> None:
    """As `vein2vein dev` runs them: the worker's client takes the process's metrics runtime
    first, then the service connects with the same settings. A second Prometheus bind used to
    fail there, and the API answered 503 for good."""
    from vein2vein.observability import make_client_options

    address = harness.client.service_client.config.target_host
    metrics_port = free_port()
    settings = service_settings.model_copy(
        update={"temporal_address": address, "metrics_bind": f"127.0.0.1:{metrics_port}"}
    )
    worker_side = make_client_options(settings)["runtime"]
    assert make_client_options(settings)["runtime"] is worker_side, "one runtime per process"
    token = make_token(settings, "metrics-check", ["read"])
    port, stop = free_port(), asyncio.Event()
    running = asyncio.create_task(serve(settings, stop, "127.0.0.1", port))
    try:
        async with httpx.AsyncClient() as http:
            status, scraped = 0, ""
            for _ in range(300):
                try:
                    r = await http.get(
                        f"http://127.0.0.1:{port}/api/batches/B-NOSUCHBATCH",
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    status = r.status_code
                    scraped = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
                except httpx.TransportError:
                    status = 0
                if status == 404 and "temporal_request" in scraped:
                    break
                await asyncio.sleep(0.05)
            assert status == 404, f"the API answers once connected, not {status}"
            assert "temporal_request" in scraped, "the client's own series reach the scrape"
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)
