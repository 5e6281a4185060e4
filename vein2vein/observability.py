"""JSON logs through structlog, OpenTelemetry tracing and Prometheus metrics, by configuration.

Workflow code logs through `workflow.logger` (replay-aware); this module renders those records,
and everything else, as one JSON object per line, lifting the batch, product and step out of
Temporal's `extra` so every line can be filtered by batch.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
import temporalio.activity
import temporalio.workflow

from vein2vein.settings import Settings
from vein2vein.telemetry import process_telemetry


def _lift_temporal_context(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    wf = event.pop("temporal_workflow", None)
    if isinstance(wf, dict):
        event.setdefault("batch", wf.get("workflow_id"))
        event.setdefault("product", wf.get("workflow_type"))
    act = event.pop("temporal_activity", None)
    if isinstance(act, dict):
        event.setdefault("batch", act.get("workflow_id"))
        event.setdefault("product", act.get("workflow_type"))
        event.setdefault("step", act.get("activity_type"))
    return event


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Route stdlib and structlog logging to JSON lines on `stream` (default stderr)."""
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(
            allow=[
                "temporal_workflow",
                "temporal_activity",
                "step",
                "iteration",
                "deviation",
                "kind",
            ]
        ),
        _lift_temporal_context,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
    )
    # The context goes into fields (batch, product, step), not appended to the message.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def make_client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `workflows.client.connect`: TLS, tracing and metrics (this
    process's one runtime, `vein2vein.telemetry`, whoever asks first)."""
    opts: dict[str, Any] = {}
    if settings.tls_cert:
        opts["tls_cert"] = settings.tls_cert.read_bytes()
        opts["tls_key"] = settings.tls_key.read_bytes() if settings.tls_key else None
    if settings.tls_ca:
        opts["tls_ca"] = settings.tls_ca.read_bytes()
    if settings.tracing:
        opts["interceptors"] = [tracing_interceptor(settings.tracing)]
    telemetry = process_telemetry(settings)
    if telemetry is not None:
        opts["runtime"] = telemetry.runtime
    return opts


def tracing_interceptor(target: str) -> Any:
    """Temporal's tracing interceptor exporting spans to the console or an OTLP endpoint.

    The tracer provider is global to the process and set once (OpenTelemetry refuses a
    second), by the first caller: in `vein2vein dev` the worker and the service share it."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )
    from temporalio.contrib.opentelemetry import TracingInterceptor

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return TracingInterceptor()
    exporter: SpanExporter
    if target == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=target)
    provider = TracerProvider(resource=Resource.create({"service.name": "vein2vein"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return TracingInterceptor()
