"""One simulated batch: its record (the engine's own `BatchRecord`, so the engine's pure
rules read it unchanged) and the bookkeeping the engine keeps in `BatchState`.

Records are built with `model_construct`: the simulator makes the values itself, so
validating each of a year's million step runs would only cost time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import simpy

from workflows.definition import CompiledDefinition
from workflows.language import Call, Step
from workflows.model import (
    BatchRecord,
    DecisionAction,
    Deviation,
    DeviationKind,
    RecordedResult,
    StepRun,
    StepState,
)

if TYPE_CHECKING:
    from simulation.network import Network

#: Simulated time 0 (a Monday, so QA's working week starts with the simulation).
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)


def at(hours: float) -> datetime:
    """The instant `hours` after the simulation's start."""
    return EPOCH + timedelta(hours=hours)


@dataclass
class Order:
    """What a simulated batch knows of its order (the engine's `BatchOrder`, less the id
    rules): the site of each party, options, weight, and the treatment window in hours."""

    sites: dict[str, str]
    options: dict[str, str] = field(default_factory=dict)
    weight_kg: float | None = None
    window_start_h: float | None = None
    window_end_h: float | None = None
    centre: str = ""


@dataclass
class SimBatch:
    """A running simulated batch: the record readers see and the engine's bookkeeping."""

    batch_id: str
    defn: CompiledDefinition
    order: Order
    rec: BatchRecord
    network: Network
    arrived_h: float
    #: Faults fired so far, by index in the world's list (`World.fault`).
    fired: dict[int, int] = field(default_factory=dict)
    done_at: dict[str, float] = field(default_factory=dict)
    not_before: dict[str, tuple[float, str]] = field(default_factory=dict)
    compensations: list[tuple[str, Call]] = field(default_factory=list)
    iterations: dict[str, int] = field(default_factory=dict)
    person_retries: dict[str, int] = field(default_factory=dict)
    fresh: dict[str, list[str]] = field(default_factory=dict)
    #: Fires when a deviation is disposed of (the runner's "no blocking deviation" wait).
    disposed: simpy.Event | None = None
    #: The batch's main process, interrupted when a background disposition abandons it.
    process: simpy.Process | None = None
    abandon: str | None = None
    infused_h: float | None = None
    slot: tuple[str, float, float] | None = None
    slot_wait_h: float = 0.0
    #: The wait for the slot just booked, which the booking step still has to sit out.
    slot_pending_h: float = 0.0
    qa_wait_h: float = 0.0
    stock_wait_h: float = 0.0
    closed: bool = False
    #: The manufacturing site of the order (whose lanes and QA the batch uses).
    site: str = ""
    done_waiters: dict[str, simpy.Event] = field(default_factory=dict)

    @property
    def env(self) -> simpy.Environment:
        """The simulation's clock."""
        return self.network.env

    def begin(self, step: Step, stage: str, iteration: int) -> int:
        """Record that `step` starts (the engine's `recording.begin`)."""
        self.rec.steps.append(
            StepRun.model_construct(
                step=step.name,
                stage=stage,
                iteration=iteration,
                state=StepState.ACTIVE,
                started_at=at(self.env.now),
                ended_at=None,
                performed_by=None,
            )
        )
        self.iterations[step.name] = iteration
        return len(self.rec.steps) - 1

    def end(self, index: int, outcome: StepState) -> None:
        """Record that run `index` ended with `outcome` (the engine's `recording.end`)."""
        run = self.rec.steps[index]
        if run.state != StepState.ACTIVE:
            return
        self.rec.steps[index] = StepRun.model_construct(
            step=run.step,
            stage=run.stage,
            iteration=run.iteration,
            state=outcome,
            started_at=run.started_at,
            ended_at=at(self.env.now),
            performed_by=None,
        )
        if outcome == StepState.DONE:
            self.mark_done(run.step)

    def mark_done(self, step: str) -> None:
        """`step` counts as done now (wakes a hold waiting for it)."""
        self.done_at[step] = self.env.now
        waiting = self.done_waiters.pop(step, None)
        if waiting is not None and not waiting.triggered:
            waiting.succeed()

    def done_event(self, step: str) -> simpy.Event:
        """An event that fires when `step` is next done (or the batch closes)."""
        found = self.done_waiters.get(step)
        if found is None:
            found = self.done_waiters[step] = self.env.event()
        return found

    def close(self) -> None:
        """The batch has ended: wake every background wait and report the journey."""
        self.closed = True
        for waiting in self.done_waiters.values():
            if not waiting.triggered:
                waiting.succeed()
        self.done_waiters.clear()
        self.network.closed(self)

    def record_result(self, step: str, name: str, value: float | str, unit: str) -> None:
        """Record one result with its verdict (judged later, as in the engine)."""
        spec = self.defn.specification.get(name)
        if spec is not None:
            self.fresh.setdefault(step, []).append(name)
        self.rec.results[name] = RecordedResult.model_construct(
            name=name,
            value=value,
            unit=unit,
            step=step,
            at=at(self.env.now),
            reporter="simulated",
            in_specification=None if spec is None else spec.accepts(value),
            limit=None if spec is None else spec.describe(),
        )

    def open_deviation(
        self,
        kind: DeviationKind,
        step: str,
        description: str,
        allowed: tuple[DecisionAction, ...],
        *,
        blocking: bool = True,
        results: tuple[str, ...] = (),
    ) -> Deviation:
        """Record a deviation (the engine's `failures.open_deviation`)."""
        dev = Deviation.model_construct(
            deviation_id=f"DEV-{len(self.rec.deviations) + 1}",
            kind=kind,
            step=step,
            opened_at=at(self.env.now),
            description=description,
            allowed=allowed,
            blocking=blocking,
            results=results,
            disposition=None,
            disposed_by=None,
            disposed_at=None,
            reason=None,
        )
        self.rec.deviations.append(dev)
        return dev

    def dispose(self, deviation_id: str, action: DecisionAction, reason: str) -> None:
        """Apply a disposition to the record, as the engine's `messages.decide` does."""
        rec = self.rec
        rec.deviations = [
            d.model_copy(
                update={
                    "disposition": action,
                    "disposed_by": "simulated QA",
                    "disposed_at": at(self.env.now),
                    "reason": reason,
                }
            )
            if d.deviation_id == deviation_id
            else d
            for d in rec.deviations
        ]
        waiting, self.disposed = self.disposed, None
        if waiting is not None and not waiting.triggered:
            waiting.succeed()

    def deviation_changed(self) -> simpy.Event:
        """An event that fires at the next disposition."""
        if self.disposed is None:
            self.disposed = self.env.event()
        return self.disposed


def new_record(batch_id: str, defn: CompiledDefinition, order: Order) -> BatchRecord:
    """A fresh record for a simulated batch (the engine's `_new_record`)."""
    return BatchRecord.model_construct(
        batch_id=batch_id,
        product=defn.product,
        definition_version=defn.version,
        definition_hash=defn.content_hash,
        order_id=batch_id,
        sites=dict(order.sites),
        parties=defn.party_kinds() if defn.parties is not None else {},
        options=defn.resolved_options(order.options),
    )
