"""Logs are JSON lines naming batch, product and step, written once even when history replays."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from temporalio.client import WorkflowUpdateFailedError
from temporalio.worker import Worker

from activities import Fault, SimulatedWorld
from tests.conftest import new_ledger, running_harness, time_skipping_env
from tests.harness import Harness, order
from tests.metric_reading import Metrics
from tests.products import FLAKY_BOOKING
from vein2vein.observability import configure_logging, make_client_options
from vein2vein.settings import Settings
from vein2vein.telemetry import Telemetry
from vein2vein.worker import build_worker, make_world
from workflows.client import start_batch
from workflows.engine import metering
from workflows.model import BatchStatus, DecisionAction, DeviationKind, Role
from workflows.signatures import SigningKey


@pytest.fixture(scope="module")
def metrics() -> Iterator[Metrics]:
    """This module's Temporal runtime, its metrics read back from OpenTelemetry."""
    reader = InMemoryMetricReader()
    telemetry = Telemetry([reader])
    yield Metrics(telemetry, reader)
    telemetry.close()


@pytest.fixture(scope="module")
async def harness(
    tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey, metrics: Metrics
) -> AsyncIterator[Harness]:
    """This module's own server: the extra no-cache worker's task queue must not outlive it
    on the server the other tests share (a queue nobody polls stops time skipping)."""
    world = SimulatedWorld(seed=13)  # its report scheduler points at this module's server
    with new_ledger(tmp_path_factory) as ledger:
        async with (
            time_skipping_env(metrics.telemetry.runtime) as env,
            running_harness(env, world, ledger, signing_key) as h,
        ):
            yield h


async def test_json_logs_carry_batch_product_step_once_despite_replay(harness: Harness) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("INFO", stream)
    queue = "observability"
    # `make_world` points the world's reports at its queue: give them back to the harness's
    # worker afterwards, or later batches wait for reports nobody delivers.
    schedule = harness.world.schedule
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
        harness.world.schedule = schedule
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


async def test_a_batch_through_a_deviation_moves_the_business_metrics(
    harness: Harness, metrics: Metrics
) -> None:
    product = {"product": FLAKY_BOOKING.product}
    before = metrics.read()
    margin = metering.breach_margin()
    metering.set_breach_margin(timedelta(days=30))  # every clock of this product is "near"
    failing = harness.simulating("total_viable_cells", nominal=2e9, failing=0.5, unit="cells")
    try:
        failing.__enter__()
        handle = await harness.start(
            FLAKY_BOOKING,
            faults=[
                Fault(kind="flaky", activity="book_slot"),
                Fault(kind="oos", result="total_viable_cells"),
            ],
        )
        rec = await harness.advance_until(
            handle, lambda r: bool(r.open_deviations()), what="a deviation"
        )
        waiting = metrics.read().since(before)
        dev = rec.open_deviations()[0]
        await harness.decide(handle, dev.deviation_id, DecisionAction.RETRY, reason="re-test")
        # The re-test takes long enough to breach the hold after receipt: QA continues.
        rec = await harness.advance_until(
            handle, lambda r: bool(r.open_deviations()), what="the hold's breach"
        )
        breach = rec.open_deviations()[0]
        await harness.decide(handle, breach.deviation_id, DecisionAction.CONTINUE)
        await harness.until_waiting(handle, "decision at approve")
        with pytest.raises(WorkflowUpdateFailedError):
            await harness.decide(handle, "approve", DecisionAction.APPROVE, role=Role.OPERATOR)
        await harness.decide(handle, "approve", DecisionAction.APPROVE)
        rec = await harness.finish(handle)
    finally:
        failing.__exit__(None, None, None)
        metering.set_breach_margin(margin)
    assert rec.status == BatchStatus.COMPLETED
    moved = metrics.read().since(before)

    # While the deviation waited: the batch counted once, held or quarantined, at its stage.
    assert waiting.total("vein2vein_batches", **product) == 1
    held = waiting.total("vein2vein_batches", stage="only", **product)
    assert held == 1 and waiting.total("vein2vein_batches", status="active", **product) == 0
    oos = DeviationKind.OUT_OF_SPECIFICATION.value
    assert waiting.total("vein2vein_deviations_opened", kind=oos, **product) == 1
    # Closed: out of the gauge, counted as closed; every near-breach clock given back.
    assert moved.total("vein2vein_batches", **product) == 0
    assert moved.total("vein2vein_batches_closed", status="completed", **product) == 1
    assert moved.total("vein2vein_deviations_disposed", kind=oos, action="retry", **product) == 1
    late = {"kind": breach.kind.value, "action": "continue"}
    assert moved.total("vein2vein_deviations_disposed", **late, **product) == 1
    assert moved.total("vein2vein_clocks_breached", clock="receipt_to_expanded", **product) == 1
    assert moved.total("vein2vein_signatures_refused", action="approve", **product) == 1
    assert waiting.total("vein2vein_clocks_near_breach", **product) >= 1
    assert moved.total("vein2vein_clocks_near_breach", **product) == 0
    assert moved.count("vein2vein_stage_seconds", stage="only", **product) == 1
    # The adapter's outage, its retry and its success; the ledger's writes and their lag.
    booking = {"activity": "book_slot"}
    assert moved.total("vein2vein_adapter_retries", **booking) == 1
    assert moved.total("vein2vein_adapter_failures", outcome="unavailable", **booking) == 1
    assert moved.total("vein2vein_adapter_calls", outcome="ok", **booking) == 1
    assert moved.total("vein2vein_ledger_events_written") == len(rec.audit)
    assert moved.count("vein2vein_ledger_lag_seconds") == len(rec.audit)
    # Temporal's own series travel the same way.
    assert any(name.startswith("temporal_") for name in moved.names())
    assert "PSN-" not in repr(moved), "a patient pseudonym reached the metrics"
