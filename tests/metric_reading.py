"""Reading the business metrics back in tests: snapshots of an in-memory OpenTelemetry reader,
compared before and after, so tests sharing a runtime do not see each other's batches."""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from vein2vein.telemetry import Telemetry

Key = tuple[str, frozenset[tuple[str, str]]]


@dataclass
class Snapshot:
    """Each series' value (sum for counters and gauges, sum of observations for histograms)
    and count (histograms only)."""

    values: dict[Key, float] = field(default_factory=dict)
    counts: dict[Key, int] = field(default_factory=dict)

    def since(self, before: Snapshot) -> Snapshot:
        """What moved between `before` and this snapshot."""
        return Snapshot(
            {k: v - before.values.get(k, 0.0) for k, v in self.values.items()},
            {k: c - before.counts.get(k, 0) for k, c in self.counts.items()},
        )

    def _match(self, name: str, labels: dict[str, str]) -> list[Key]:
        want = set(labels.items())
        return [k for k in self.values if k[0] == name and want <= k[1]]

    def total(self, name: str, **labels: str) -> float:
        """The sum over every series of `name` carrying `labels`."""
        return sum(self.values[k] for k in self._match(name, labels))

    def count(self, name: str, **labels: str) -> int:
        """How many observations the histogram `name` took with `labels`."""
        return sum(self.counts.get(k, 0) for k in self._match(name, labels))

    def names(self) -> set[str]:
        """Every metric name seen."""
        return {k[0] for k in self.values}


@dataclass
class Metrics:
    """A runtime's telemetry and the reader the test looks through."""

    telemetry: Telemetry
    reader: InMemoryMetricReader

    def read(self) -> Snapshot:
        """Drain the runtime's buffer and read every series."""
        self.telemetry.drain()
        snap = Snapshot()
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.data.data_points:
                        attrs = frozenset((k, str(v)) for k, v in point.attributes.items())
                        key = (metric.name, attrs)
                        if isinstance(point, HistogramDataPoint):
                            snap.values[key] = point.sum
                            snap.counts[key] = point.count
                        else:
                            snap.values[key] = float(point.value)
        return snap
