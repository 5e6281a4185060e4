"""One process's metrics: the Temporal runtime buffers them, OpenTelemetry exports them.

Batches and activities emit through Temporal's meters (replay-safe in workflows, see
`workflows.engine.metering`), and the SDK adds its own `temporal_*` series. The runtime keeps
all of them in a `MetricBuffer`; a thread drains it every second into an OpenTelemetry meter
provider, which serves them to Prometheus (`VEIN2VEIN_METRICS`) and pushes them over OTLP
(`VEIN2VEIN_METRICS_OTLP`). One runtime and one scrape endpoint per process: `vein2vein dev`
runs the worker and the service in one process, and both use this one (binding the same port
twice is what used to leave the API answering 503 for good).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    BufferedMetric,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)

from vein2vein.settings import Settings
from workflows.metrics import CATALOGUE, CHANGE, LAG_SECONDS, LONG_SECONDS, OUT, MetricKind

log = logging.getLogger("vein2vein.telemetry")

#: Gauges travel as counters of their moves (`workflows.metrics`), by the name they travel as.
_GAUGES = {m.emitted_as: m for m in CATALOGUE.values() if m.kind is MetricKind.GAUGE}
#: Temporal's own latencies, in seconds (the buffer's duration format).
_LATENCY_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _views() -> list[View]:
    def buckets(name: str, bounds: Sequence[float]) -> View:
        return View(
            instrument_type=Histogram,
            instrument_name=name,
            aggregation=ExplicitBucketHistogramAggregation(boundaries=bounds),
        )

    return [
        buckets("vein2vein_stage_seconds", LONG_SECONDS),
        buckets("vein2vein_vein_to_vein_seconds", LONG_SECONDS),
        buckets("vein2vein_ledger_lag_seconds", LAG_SECONDS),
        buckets("temporal_*", _LATENCY_SECONDS),
    ]


class Telemetry:
    """A Temporal runtime whose metrics reach OpenTelemetry `readers` (drain to move them)."""

    def __init__(self, readers: Sequence[MetricReader]) -> None:
        self.buffer = MetricBuffer(100_000, MetricBufferDurationFormat.SECONDS)
        self.runtime = Runtime(telemetry=TelemetryConfig(metrics=self.buffer))
        self.provider = MeterProvider(
            metric_readers=list(readers),
            resource=Resource.create({"service.name": "vein2vein"}),
            views=_views(),
        )
        self._meter = self.provider.get_meter("vein2vein")
        self._instruments: dict[int, tuple[BufferedMetric, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def drain(self) -> int:
        """Move every buffered update into OpenTelemetry; returns how many there were."""
        with self._lock:
            updates = self.buffer.retrieve_updates()
            for update in updates:
                self._apply(update.metric, update.value, update.attributes)
            return len(updates)

    def _apply(self, metric: BufferedMetric, value: float, attrs: Mapping[str, Any]) -> None:
        # Metric objects are the same for the same metric (the SDK's promise), so keep them
        # by id; the tuple holds the object so the id cannot be reused.
        known = self._instruments.get(id(metric))
        if known is None:
            known = (metric, self._instrument(metric))
            self._instruments[id(metric)] = known
        instrument = known[1]
        if metric.kind == BUFFERED_METRIC_KIND_COUNTER and metric.name in _GAUGES:
            labels = {k: v for k, v in attrs.items() if k != CHANGE}
            instrument.add(-value if attrs.get(CHANGE) == OUT else value, labels)
        elif metric.kind == BUFFERED_METRIC_KIND_COUNTER:
            instrument.add(value, dict(attrs))
        elif metric.kind == BUFFERED_METRIC_KIND_GAUGE:
            instrument.set(value, dict(attrs))
        else:
            instrument.record(value, dict(attrs))

    def _instrument(self, metric: BufferedMetric) -> Any:
        description = metric.description or ""
        gauge = _GAUGES.get(metric.name)
        if metric.kind == BUFFERED_METRIC_KIND_COUNTER and gauge is not None:
            return self._meter.create_up_down_counter(gauge.name, description=gauge.description)
        if metric.kind == BUFFERED_METRIC_KIND_COUNTER:
            return self._meter.create_counter(metric.name, description=description)
        if metric.kind == BUFFERED_METRIC_KIND_GAUGE:
            return self._meter.create_gauge(metric.name, description=description)
        # No unit: the names already end in it, and the exporter would append it again.
        return self._meter.create_histogram(metric.name, description=description)

    def start(self, every: float = 1.0) -> None:
        """Drain the buffer every `every` seconds in a daemon thread, until `close`."""

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.drain()
                except Exception:  # a bad update must not stop the metrics for good
                    log.exception("metrics drain failed")

        self._thread = threading.Thread(target=loop, name="vein2vein-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop draining, drain what is left and shut the exporters down."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.drain()
        self.provider.shutdown()


_processes: dict[tuple[str | None, str | None], Telemetry] = {}
_process_lock = threading.Lock()


def process_telemetry(settings: Settings) -> Telemetry | None:
    """This process's telemetry for the configured endpoints, made by its first caller; None
    when metrics are off.

    The worker and the service both ask (in `vein2vein dev`, from the same process, with the
    same settings): the first serves the scrape endpoint, the second gets the same runtime."""
    if not settings.metrics_bind and not settings.metrics_otlp:
        return None
    key = (settings.metrics_bind, settings.metrics_otlp)
    with _process_lock:
        if key not in _processes:
            _processes[key] = _start(settings)
        return _processes[key]


def _start(settings: Settings) -> Telemetry:
    readers: list[MetricReader] = []
    if settings.metrics_bind:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        host, _, port = settings.metrics_bind.rpartition(":")
        try:
            start_http_server(int(port), addr=host or "0.0.0.0")
            readers.append(PrometheusMetricReader())
            log.info("metrics served", extra={"bind": settings.metrics_bind})
        except OSError as err:
            # Said loudly, once; the worker and the API still run (a retry would fail alike).
            log.error(
                "metrics endpoint not served",
                extra={"bind": settings.metrics_bind, "error": str(err)},
            )
    if settings.metrics_otlp:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(endpoint=settings.metrics_otlp)
        readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=15_000))
    telemetry = Telemetry(readers)
    telemetry.start()
    return telemetry
