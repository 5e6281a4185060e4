"""The Grafana dashboard and the Prometheus rules in deploy/ ask only for series the code
emits, under the names the exporter really gives them (promtool is not available here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry, generate_latest

from vein2vein.telemetry import Telemetry
from workflows.metrics import CATALOGUE, CHANGE, IN, MetricKind

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "vein2vein.json"
RULES = DEPLOY / "prometheus" / "alerts.yml"
DATASOURCE = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
EXPOSED = {name for metric in CATALOGUE.values() for name in metric.exposed}
METRIC_NAME = re.compile(r"\b(vein2vein_[a-z0-9_]+|temporal_[a-z0-9_]+)\b")


def _named(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(expr))


def test_the_exporter_exposes_the_catalogue_under_the_names_dashboards_use() -> None:
    registry = CollectorRegistry()
    telemetry = Telemetry([PrometheusMetricReader(registry=registry)])
    meter = telemetry.runtime.metric_meter
    for metric in CATALOGUE.values():
        labels = {label: "x" for label in metric.labels}
        if metric.kind is MetricKind.HISTOGRAM:
            meter.create_histogram_float(metric.name, metric.description).record(1.0, labels)
        elif metric.kind is MetricKind.GAUGE:
            meter.create_counter(metric.emitted_as).add(1, {**labels, CHANGE: IN})
        else:
            meter.create_counter(metric.name, metric.description).add(1, labels)
    telemetry.drain()
    text = generate_latest(registry).decode()
    telemetry.close()
    shown = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    assert shown >= EXPOSED, f"not exposed as named: {sorted(EXPOSED - shown)}"
    assert f'{CHANGE}="' not in text, "a gauge's moves leaked as a label"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def test_dashboard_is_well_formed(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    source_uid = yaml.safe_load(DATASOURCE.read_text())["datasources"][0]["uid"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in dashboard["panels"]:
        assert panel["type"] in {"timeseries", "stat", "table", "barchart", "gauge"}
        assert panel["title"] and set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["targets"], f"{panel['title']}: no query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source_uid


def test_every_dashboard_query_names_an_emitted_metric(dashboard: dict[str, Any]) -> None:
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            named = _named(target["expr"])
            assert named, f"{panel['title']}: names no metric"
            assert named <= EXPOSED, f"{panel['title']}: {sorted(named - EXPOSED)} not emitted"
    covered = {n for p in dashboard["panels"] for t in p["targets"] for n in _named(t["expr"])}
    shown = {m.name for m in CATALOGUE.values() if set(m.exposed) & covered}
    assert shown == set(CATALOGUE), f"metrics on no panel: {sorted(set(CATALOGUE) - shown)}"


def test_alert_rules_parse_and_name_emitted_metrics() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert set(alerts) == {"BatchHeld", "BreachNear", "AdapterFailing", "ProjectionLag"}
    for name, rule in alerts.items():
        named = _named(rule["expr"])
        assert named and named <= EXPOSED, f"{name}: {sorted(named - EXPOSED)} not emitted"
        assert rule["expr"].count("(") == rule["expr"].count(")"), f"{name}: unbalanced"
        assert re.fullmatch(r"\d+[smh]", rule["for"]), f"{name}: bad 'for'"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
