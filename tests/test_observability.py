"""Logs are JSON lines naming batch, product and step, written once even when history replays."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator

import pytest
from temporalio.worker import Worker

from activities import SimulatedWorld
from tests.conftest import new_ledger, running_harness, time_skipping_env
from tests.harness import Harness, order
from tests.products import FLAKY_BOOKING
from vein2vein.observability import configure_logging, make_client_options
from vein2vein.settings import Settings
from vein2vein.worker import build_worker, make_world
from workflows.client import start_batch
from workflows.model import DecisionAction
from workflows.signatures import SigningKey


@pytest.fixture(scope="module")
async def harness(
    tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey
) -> AsyncIterator[Harness]:
    """This module's own server: the extra no-cache worker's task queue must not outlive it
    on the server the other tests share (a queue nobody polls stops time skipping)."""
    world = SimulatedWorld(seed=13)  # its report scheduler points at this module's server
    with new_ledger(tmp_path_factory) as ledger:
        async with (
            time_skipping_env() as env,
            running_harness(env, world, ledger, signing_key) as h,
        ):
            yield h


async def test_json_logs_carry_batch_product_step_once_despite_replay(harness: Harness) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("INFO", stream)
    queue = "observability"
    try:
        acts = make_world(
            harness.client, ledger=harness.ledger, world=harness.world, task_queue=queue
        )
        # No cache: every workflow task replays the whole history, the worst case for duplicates.
        worker: Worker = build_worker(
            harness.client,
            acts,
            products=[FLAKY_BOOKING],
            task_queue=queue,
            max_cached_workflows=0,
        )
        async with worker:
            handle = await start_batch(
                harness.client,
                FLAKY_BOOKING,
                order(),
                task_queue=queue,
            )
            await harness.until_waiting(handle, "decision at approve")
            await harness.decide(handle, "approve", DecisionAction.APPROVE)
            await harness.finish(handle)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    started = [
        rec for rec in lines if rec.get("event") == "step started" and rec.get("batch") == handle.id
    ]
    assert [rec["step"] for rec in started] == [
        "allocate_coi",
        "book_slot",
        "receipt",
        "expansion",
        "approve",
    ]
    assert all(rec["product"] == FLAKY_BOOKING.product for rec in started)
    assert all(rec["level"] == "info" and "timestamp" in rec for rec in started)
    assert "PSN-" not in stream.getvalue(), "a patient pseudonym reached the logs"


def test_tracing_and_metrics_options_follow_configuration() -> None:
    plain = make_client_options(Settings())
    assert "interceptors" not in plain and "runtime" not in plain
    traced = make_client_options(Settings(tracing="console", metrics_bind="127.0.0.1:0"))
    assert type(traced["interceptors"][0]).__name__ == "TracingInterceptor"
    assert traced["runtime"] is not None
