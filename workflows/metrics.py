"""The business metrics vein2vein emits: one catalogue for the code that emits them, the bridge
that exports them (`vein2vein.telemetry`), the dashboards and the alert rules.

Batches emit through Temporal's replay-safe workflow meter (`workflows.engine.metering`),
activities through their activity meter (`activities.metering`); both reach the worker's
Temporal runtime, whose buffer the bridge drains into OpenTelemetry. Labels are bounded
vocabularies of the definitions and the deployment (product, status, stage, step, site,
activity, kind): never a batch id, an order id or anything about a patient.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class MetricKind(StrEnum):
    """How a metric aggregates."""

    COUNTER = "counter"
    #: Goes up and down; emitted as a counter of moves (label `change` = in/out) that the
    #: bridge folds into one OpenTelemetry up-down counter, since Temporal's meter has none.
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class Metric(NamedTuple):
    """One business metric: its OpenTelemetry name, kind, meaning and labels."""

    name: str
    kind: MetricKind
    description: str
    labels: tuple[str, ...]

    @property
    def emitted_as(self) -> str:
        """The name given to Temporal's meter (a gauge travels as a counter of its moves)."""
        return f"{self.name}_moves" if self.kind is MetricKind.GAUGE else self.name

    @property
    def exposed(self) -> tuple[str, ...]:
        """The series names a Prometheus scrape shows for it."""
        if self.kind is MetricKind.COUNTER:
            return (f"{self.name}_total",)
        if self.kind is MetricKind.HISTOGRAM:
            return tuple(f"{self.name}_{s}" for s in ("bucket", "sum", "count"))
        return (self.name,)


#: The label of a gauge's moves: `IN` adds one, `OUT` takes one away.
CHANGE = "change"
IN, OUT = "in", "out"

BATCHES = Metric(
    "vein2vein_batches",
    MetricKind.GAUGE,
    "Open batches by product, status and stage, kept from their transitions",
    ("product", "status", "stage"),
)
BATCHES_CLOSED = Metric(
    "vein2vein_batches_closed",
    MetricKind.COUNTER,
    "Batches that closed, by product and final status",
    ("product", "status"),
)
DEVIATIONS_OPENED = Metric(
    "vein2vein_deviations_opened",
    MetricKind.COUNTER,
    "Deviations opened, by product and kind",
    ("product", "kind"),
)
DEVIATIONS_DISPOSED = Metric(
    "vein2vein_deviations_disposed",
    MetricKind.COUNTER,
    "Deviations QA disposed of, by product, kind and disposition",
    ("product", "kind", "action"),
)
STAGE_SECONDS = Metric(
    "vein2vein_stage_seconds",
    MetricKind.HISTOGRAM,
    "Time a batch spent in a stage (workflow time), recorded when it leaves the stage",
    ("product", "stage"),
)
VEIN_TO_VEIN_SECONDS = Metric(
    "vein2vein_vein_to_vein_seconds",
    MetricKind.HISTOGRAM,
    "From the batch's start (the order) to the patient's infusion (workflow time)",
    ("product",),
)
CLOCKS_NEAR_BREACH = Metric(
    "vein2vein_clocks_near_breach",
    MetricKind.GAUGE,
    "Running clocks (deadlines, holds, visit windows) within the margin of their breach",
    ("product", "clock"),
)
CLOCKS_BREACHED = Metric(
    "vein2vein_clocks_breached",
    MetricKind.COUNTER,
    "Clocks whose limit passed while they ran (each opens a deviation)",
    ("product", "clock"),
)
SIGNATURES_REFUSED = Metric(
    "vein2vein_signatures_refused",
    MetricKind.COUNTER,
    "Signed decisions a batch refused (wrong role, stale, replayed, bad signature...)",
    ("product", "action"),
)
ADAPTER_CALLS = Metric(
    "vein2vein_adapter_calls",
    MetricKind.COUNTER,
    "Calls to a site's adapter, by site, activity and outcome (ok, refused, unavailable, error)",
    ("site", "activity", "outcome"),
)
ADAPTER_RETRIES = Metric(
    "vein2vein_adapter_retries",
    MetricKind.COUNTER,
    "Adapter calls that were a retry of an earlier attempt",
    ("site", "activity"),
)
ADAPTER_FAILURES = Metric(
    "vein2vein_adapter_failures",
    MetricKind.COUNTER,
    "Adapter calls that failed technically (to be retried) or were refused",
    ("site", "activity", "outcome"),
)
LEDGER_EVENTS = Metric(
    "vein2vein_ledger_events_written",
    MetricKind.COUNTER,
    "Audit events newly written into the ledger, by who carried them (call or projection)",
    ("carrier",),
)
LEDGER_LAG_SECONDS = Metric(
    "vein2vein_ledger_lag_seconds",
    MetricKind.HISTOGRAM,
    "From an audit event's time in the batch to its write into the ledger (projection lag)",
    ("carrier",),
)

#: Every business metric, by name.
CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in (
        BATCHES,
        BATCHES_CLOSED,
        DEVIATIONS_OPENED,
        DEVIATIONS_DISPOSED,
        STAGE_SECONDS,
        VEIN_TO_VEIN_SECONDS,
        CLOCKS_NEAR_BREACH,
        CLOCKS_BREACHED,
        SIGNATURES_REFUSED,
        ADAPTER_CALLS,
        ADAPTER_RETRIES,
        ADAPTER_FAILURES,
        LEDGER_EVENTS,
        LEDGER_LAG_SECONDS,
    )
}

#: Bucket bounds (seconds) for durations from minutes to a quarter: stages, vein to vein.
LONG_SECONDS: tuple[float, ...] = (60.0, 600.0, 3600.0, 4 * 3600.0, 12 * 3600.0)
LONG_SECONDS += tuple(d * 86400.0 for d in (1, 2, 4, 7, 14, 21, 28, 42, 60, 90))
#: Bucket bounds (seconds) for the ledger's lag: milliseconds to an hour.
LAG_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
