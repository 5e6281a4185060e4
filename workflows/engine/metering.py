"""Business metrics a batch emits as things happen (`workflows.metrics` names them).

Everything goes through `workflow.metric_meter()`, which records nothing while history
replays, so a batch rebuilt on another worker (or after eviction) counts nothing twice. The
bookkeeping in `BatchState` (`metered`, `metered_clocks`, `near_breach`) is updated on replay
as well, so the first live task after a replay compares against the right previous state.
Nothing here issues a command: recorded histories replay unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.engine.state import BatchState
from workflows.metrics import (
    BATCHES,
    BATCHES_CLOSED,
    CHANGE,
    CLOCKS_BREACHED,
    CLOCKS_NEAR_BREACH,
    DEVIATIONS_DISPOSED,
    DEVIATIONS_OPENED,
    IN,
    OUT,
    SIGNATURES_REFUSED,
    STAGE_SECONDS,
    VEIN_TO_VEIN_SECONDS,
    Metric,
)
from workflows.model import AuditAction, AuditEvent, BatchStatus

#: Statuses after which a batch is no longer open (it leaves the batches gauge).
CLOSED = frozenset({BatchStatus.COMPLETED, BatchStatus.ABANDONED, BatchStatus.ENDED})

#: How close to its limit a running clock counts as near breach. The worker sets it from
#: `VEIN2VEIN_BREACH_MARGIN`; it only shapes a metric, never a command, so a change between a
#: run and its replay is harmless.
_margin = timedelta(hours=4)


def set_breach_margin(margin: timedelta) -> None:
    """Set the near-breach margin for every batch of this worker (`Settings.breach_margin`)."""
    global _margin
    _margin = margin


def breach_margin() -> timedelta:
    """The near-breach margin in force."""
    return _margin


def _count(metric: Metric, attrs: Mapping[str, str], value: int = 1) -> None:
    counter = workflow.metric_meter().create_counter(metric.emitted_as, metric.description)
    counter.add(value, dict(attrs))


def _move(metric: Metric, attrs: Mapping[str, str], change: str) -> None:
    _count(metric, {**attrs, CHANGE: change})


def _seconds(metric: Metric, attrs: Mapping[str, str], value: timedelta) -> None:
    histogram = workflow.metric_meter().create_histogram_float(metric.name, metric.description, "s")
    histogram.record(max(value.total_seconds(), 0.0), dict(attrs))


def resumed(state: BatchState) -> None:
    """A run that continued as new: the batch was counted already, in its current place."""
    state.metered = (state.rec.status.value, state.rec.stage or "")


def released(state: BatchState) -> None:
    """Before continuing as new: give back the near-breach clocks (the next run finds them)."""
    for name in sorted(state.near_breach):
        _move(CLOCKS_NEAR_BREACH, {"product": state.rec.product, "clock": name}, OUT)
    state.near_breach.clear()


def refreshed(state: BatchState) -> None:
    """After status, stage and deadlines were re-derived: count what moved."""
    _transition(state)
    _clocks(state)


def _transition(state: BatchState) -> None:
    rec = state.rec
    now, product = workflow.now(), rec.product
    key = (rec.status.value, rec.stage or "")
    prev = state.metered
    if key == prev:
        return
    state.metered = key
    if prev is not None and BatchStatus(prev[0]) in CLOSED:
        return  # a closed batch stays out of the gauge whatever it records afterwards
    if prev is not None:
        _move(BATCHES, {"product": product, "status": prev[0], "stage": prev[1]}, OUT)
        left = prev[1] != key[1] or rec.status in CLOSED
        entered = _stage_entered(state, prev[1]) if left and prev[1] else None
        if entered is not None:
            _seconds(STAGE_SECONDS, {"product": product, "stage": prev[1]}, now - entered)
    if rec.status in CLOSED:
        _count(BATCHES_CLOSED, {"product": product, "status": key[0]})
    else:
        _move(BATCHES, {"product": product, "status": key[0], "stage": key[1]}, IN)


def _stage_entered(state: BatchState, stage: str) -> datetime | None:
    for event in reversed(state.rec.audit):
        if event.action == AuditAction.STAGE_ENTERED and event.subject == stage:
            return event.at
    return None


def _clocks(state: BatchState) -> None:
    now, product = workflow.now(), state.rec.product
    for name, limit in list(state.metered_clocks.items()):
        if state.deadlines.get(name) == limit:
            continue
        del state.metered_clocks[name]
        if name in state.near_breach:
            state.near_breach.discard(name)
            _move(CLOCKS_NEAR_BREACH, {"product": product, "clock": name}, OUT)
        if now >= limit:
            _count(CLOCKS_BREACHED, {"product": product, "clock": name})
    for name, limit in state.deadlines.items():
        state.metered_clocks[name] = limit
        if name not in state.near_breach and limit - now <= _margin:
            state.near_breach.add(name)
            _move(CLOCKS_NEAR_BREACH, {"product": product, "clock": name}, IN)


def recorded(state: BatchState, event: AuditEvent) -> None:
    """After an audit event was appended: count deviations, dispositions and infusions."""
    rec = state.rec
    if event.action == AuditAction.DEVIATION_OPENED:
        kind = _deviation_kind(state, event.subject)
        _count(DEVIATIONS_OPENED, {"product": rec.product, "kind": kind})
    elif event.action.startswith("decision.") and event.subject != rec.batch_id:
        kind = _deviation_kind(state, event.subject)
        if kind != "unknown":
            action = event.action.removeprefix("decision.")
            _count(DEVIATIONS_DISPOSED, {"product": rec.product, "kind": kind, "action": action})
    elif event.action == AuditAction.BATCH_INFUSED and rec.audit:
        _seconds(VEIN_TO_VEIN_SECONDS, {"product": rec.product}, event.at - rec.audit[0].at)


def _deviation_kind(state: BatchState, deviation_id: str) -> str:
    for dev in state.rec.deviations:
        if dev.deviation_id == deviation_id:
            return dev.kind.value
    return "unknown"


def signature_refused(state: BatchState, action: str) -> None:
    """A signed decision was refused by the batch's validator (never on replay)."""
    _count(SIGNATURES_REFUSED, {"product": state.rec.product, "action": action})
