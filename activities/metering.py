"""Metrics and spans of the outside world's side: adapter calls and ledger writes.

Activities never replay, so they emit directly, through their activity's meter (the worker's
Temporal runtime; `vein2vein.telemetry` exports it). Spans go to the global OpenTelemetry
tracer, under the activity's span that Temporal's tracing interceptor opened, and carry the
batch id (never patient data).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from opentelemetry import trace
from temporalio import activity

from workflows.metrics import (
    ADAPTER_CALLS,
    ADAPTER_FAILURES,
    ADAPTER_RETRIES,
    LEDGER_EVENTS,
    LEDGER_LAG_SECONDS,
    Metric,
)
from workflows.model import AuditEvent

#: Span attribute naming the batch (the Temporal workflow id is the same value).
BATCH_ID = "vein2vein.batch_id"

_tracer = trace.get_tracer("vein2vein.activities")


def _count(metric: Metric, attrs: Mapping[str, str]) -> None:
    if activity.in_activity():
        activity.metric_meter().create_counter(metric.name, metric.description).add(1, dict(attrs))


@contextmanager
def adapter_call(site: str, name: str, batch_id: str) -> Iterator[dict[str, str]]:
    """Around one adapter call: a span, and the call counted by its outcome. The caller sets
    `outcome` in the yielded dict when the adapter refused or was unavailable."""
    attrs = {"site": site, "activity": name}
    result = {"outcome": "ok"}
    if activity.in_activity() and activity.info().attempt > 1:
        _count(ADAPTER_RETRIES, attrs)
    span_attrs = {BATCH_ID: batch_id, "vein2vein.site": site, "vein2vein.activity": name}
    with _tracer.start_as_current_span(f"adapter {name}", attributes=span_attrs) as span:
        try:
            yield result
        except BaseException:
            if result["outcome"] == "ok":
                result["outcome"] = "error"
            raise
        finally:
            span.set_attribute("vein2vein.outcome", result["outcome"])
            _count(ADAPTER_CALLS, {**attrs, "outcome": result["outcome"]})
            if result["outcome"] != "ok":
                _count(ADAPTER_FAILURES, {**attrs, "outcome": result["outcome"]})


@contextmanager
def ledger_write(events: Sequence[AuditEvent], carrier: str) -> Iterator[None]:
    """Around one ledger append: a span naming the batches."""
    batches = sorted({e.batch_id for e in events})
    attrs: dict[str, str | int] = {
        BATCH_ID: ",".join(batches),
        "vein2vein.events": len(events),
        "vein2vein.carrier": carrier,
    }
    with _tracer.start_as_current_span("ledger append", attributes=attrs):
        yield


def ledger_written(events: Sequence[AuditEvent], written: int, carrier: str) -> None:
    """Count the events the ledger newly took and how long after they happened.

    The ledger skips the events it already holds, and a batch's events are a gapless sequence,
    so the new ones are the `written` highest-numbered; with events of several batches in one
    call (never sent today) only the count is known, not which ones."""
    if not activity.in_activity() or written <= 0:
        return
    meter = activity.metric_meter()
    meter.create_counter(LEDGER_EVENTS.name, LEDGER_EVENTS.description).add(
        written, {"carrier": carrier}
    )
    if len({e.batch_id for e in events}) != 1:
        return
    lag = meter.create_histogram_float(LEDGER_LAG_SECONDS.name, LEDGER_LAG_SECONDS.description, "s")
    now = datetime.now(UTC)
    for event in sorted(events, key=lambda e: e.seq)[-written:]:
        # Workflow time can run ahead of the host clock (time skipping): no negative lag.
        lag.record(max((now - event.at).total_seconds(), 0.0), {"carrier": carrier})
