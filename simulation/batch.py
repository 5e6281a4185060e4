"""One simulated batch: its record (the engine's own `BatchRecord`, so the engine's pure
rules read it unchanged) and the bookkeeping the engine keeps in `BatchState`.

Records are built without validation (the simulator makes the values itself), and step runs
are kept as plain rows until someone reads the record (`SimBatch.record`): a year of a network
runs a million steps, and building a pydantic value for each would be most of the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import simpy
from pydantic import BaseModel

from workflows.definition import CompiledDefinition
from workflows.language import Call, Limit, Step
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


M = TypeVar("M", bound=BaseModel)


def _make(cls: type[M], **values: Any) -> M:
    """A model from values the simulator made itself and passes in full: what
    `model_construct` does, without its per-field bookkeeping."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


_LIMITS: dict[int, str] = {}


def _describe(limit: Limit) -> str:
    found = _LIMITS.get(id(limit))
    if found is None:
        found = _LIMITS[id(limit)] = limit.describe()
    return found


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
    #: Step runs: [step, stage, iteration, state, started (h), ended (h)], in start order.
    runs: list[list[Any]] = field(default_factory=list)
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
        self.runs.append([step.name, stage, iteration, StepState.ACTIVE, self.env.now, None])
        self.iterations[step.name] = iteration
        return len(self.runs) - 1

    def end(self, index: int, outcome: StepState) -> None:
        """Record that run `index` ended with `outcome` (the engine's `recording.end`)."""
        run = self.runs[index]
        if run[3] != StepState.ACTIVE:
            return
        run[3], run[5] = outcome, self.env.now
        if outcome == StepState.DONE:
            self.mark_done(run[0])

    def record(self) -> BatchRecord:
        """The batch record as a reader sees it, its step runs filled in."""
        self.rec.steps = [
            _make(
                StepRun,
                step=name,
                stage=stage,
                iteration=iteration,
                state=state,
                started_at=at(started),
                ended_at=None if ended is None else at(ended),
                performed_by=None,
            )
            for name, stage, iteration, state, started, ended in self.runs
        ]
        return self.rec

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
        self.rec.results[name] = _make(
            RecordedResult,
            name=name,
            value=value,
            unit=unit,
            step=step,
            at=at(self.env.now),
            reporter="simulated",
            in_specification=None if spec is None else spec.accepts(value),
            limit=None if spec is None else _describe(spec),
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
        dev = _make(
            Deviation,
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


#: Each field's default, made fresh for each record: `model_construct` would otherwise
#: inspect every default factory's signature again for every record it builds.
_FACTORIES = {
    name: f.default_factory
    for name, f in BatchRecord.model_fields.items()
    if f.default_factory is not None
}
_DEFAULTS = {
    name: f.default
    for name, f in BatchRecord.model_fields.items()
    if f.default_factory is None and not f.is_required()
}


def new_record(batch_id: str, defn: CompiledDefinition, order: Order) -> BatchRecord:
    """A fresh record for a simulated batch (the engine's `_new_record`)."""
    fresh = {name: factory() for name, factory in _FACTORIES.items()}  # type: ignore[call-arg]
    return BatchRecord.model_construct(
        **{
            **_DEFAULTS,
            **fresh,
            "batch_id": batch_id,
            "product": defn.product,
            "definition_version": defn.version,
            "definition_hash": defn.content_hash,
            "order_id": batch_id,
            "sites": dict(order.sites),
            "parties": defn.party_kinds() if defn.parties is not None else {},
            "options": defn.resolved_options(order.options),
        }
    )
