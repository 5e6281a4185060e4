"""Logs are JSON lines naming batch, product and step, written once even when history replays."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import Worker

from activities import Fault, SimulatedWorld
from tests.conftest import new_ledger, running_harness, time_skipping_env
from tests.harness import Harness, order
from tests.metric_reading import Metrics
from tests.products import FLAKY_BOOKING
from tests.service.support import make_token
from vein2vein.observability import configure_logging, make_client_options
from vein2vein.service.app import create_app
from vein2vein.settings import Settings
from vein2vein.telemetry import Telemetry
from vein2vein.worker import build_worker, make_world
from workflows.client import decide as submit
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
def spans() -> InMemorySpanExporter:
    """Every span this process makes from now on, kept in memory. OpenTelemetry takes one
    global tracer provider per process: add to the one set already, if any."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture(scope="module")
async def harness(
    tmp_path_factory: pytest.TempPathFactory,
    signing_key: SigningKey,
    metrics: Metrics,
    spans: InMemorySpanExporter,
) -> AsyncIterator[Harness]:
    """This module's own server: the extra no-cache worker's task queue must not outlive it
    on the server the other tests share (a queue nobody polls stops time skipping)."""
    world = SimulatedWorld(seed=13)  # its report scheduler points at this module's server
    with new_ledger(tmp_path_factory) as ledger:
        async with (
            time_skipping_env(metrics.telemetry.runtime) as env,
            running_harness(env, world, ledger, signing_key, traced(env.client)) as h,
        ):
            yield h


def traced(client: Client) -> Client:
    """`client` with Temporal's tracing interceptor (the worker built on it traces too)."""
    return Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=client.data_converter,
        interceptors=[TracingInterceptor()],
    )


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


async def test_one_trace_from_the_api_request_to_the_adapter_and_the_ledger(
    harness: Harness, spans: InMemorySpanExporter, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = harness.ledger.engine.url.render_as_string(hide_password=False)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("traced"), ledger_url=url, require_approval=False
    )
    app = create_app(
        settings,
        traced(harness.client),
        clock=harness.env.get_current_time,
        key=harness.key,
        catalog={FLAKY_BOOKING.product: FLAKY_BOOKING},
    )
    token = make_token(settings, "traced", ["orders"])
    spans.clear()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as http:
        r = await http.post(
            "/api/batches",
            json={"product": FLAKY_BOOKING.product, "order": order().model_dump(mode="json")},
            headers={"Idempotency-Key": "traced-1", "Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 201, r.text
    batch_id = r.json()["batch_id"]
    handle = harness.client.get_workflow_handle(batch_id)
    harness.started.append(handle)
    await harness.until_waiting(handle, "decision at approve")
    # A CLI command's root span around the signed decision (an update).
    with trace.get_tracer("test").start_as_current_span("vein2vein batch decide"):
        await submit(
            traced(harness.client),
            batch_id,
            await harness.sign(handle, "approve", DecisionAction.APPROVE),
        )
    await harness.finish(handle)

    done = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in done}

    def one(name: str) -> ReadableSpan:
        found = [s for s in done if s.name == name]
        assert found, f"no span {name!r}; spans: {sorted({s.name for s in done})}"
        return found[0]

    def ancestors(span: ReadableSpan) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    request = one("POST /api/batches")
    assert request.kind == trace.SpanKind.SERVER
    adapter = one("adapter book_slot")
    assert adapter.attributes is not None and adapter.attributes["vein2vein.batch_id"] == batch_id
    assert adapter.context.trace_id == request.context.trace_id, "one trace, request to adapter"
    chain = ancestors(adapter)
    assert chain[:2] == ["RunActivity:book_slot", "StartActivity:book_slot"], chain
    # The workflow task's span hangs from the same start (Temporal's interceptor parents the
    # workflow's activities on the start's context, beside it).
    assert ancestors(one("RunWorkflow:test-flaky-booking"))[0] == "StartWorkflow:test-flaky-booking"
    # FastAPI's own server span (its native OpenTelemetry support) is the root.
    assert "StartWorkflow:test-flaky-booking" in chain and chain[-1] == "POST /api/batches"
    ledger = [s for s in done if s.name == "ledger append" and s.parent is not None]
    assert ledger and all(s.context.trace_id == request.context.trace_id for s in ledger)
    assert any("RunActivity:book_slot" in ancestors(s)[:1] for s in ledger)
    # An update belongs to the batch's trace and links back to the command that sent it
    # (Temporal's interceptor keeps every span of a workflow in the trace of its start).
    sent = one("StartWorkflowUpdate:decide")
    assert ancestors(sent) == ["vein2vein batch decide"]
    handled = one("HandleUpdate:decide")
    assert handled.context.trace_id == request.context.trace_id
    assert [link.context.span_id for link in handled.links] == [sent.context.span_id]
    assert not any("PSN-" in str(s.to_json()) for s in done), "a pseudonym reached a span"
