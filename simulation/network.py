"""The simulated network a batch runs in: the clock, the outside world, slots, stock, QA,
and the journeys of the batches that ended (or were still running at the end)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import simpy

from activities.sim_tables import Fault
from simulation.batch import Order, SimBatch, at, new_record
from simulation.capacity import DAY_H, Inventory, SlotCalendar, first_midnight_day
from simulation.dispositions import Dispositions, ForcedDispositions
from simulation.faults import World
from simulation.qa import ReviewerPool
from workflows.authority import gate_refusal
from workflows.definition import CompiledDefinition
from workflows.language import Gate, Limit
from workflows.model import BatchRecord, DecisionAction, DecisionBody, Deviation
from workflows.status import derive_status


@dataclass
class Journey:
    """What one simulated batch did, for the summary."""

    batch_id: str
    product: str
    centre: str
    site: str
    arrived_h: float
    window_end_h: float | None
    infused_h: float | None
    status: str
    reason: str | None
    deviations: list[tuple[str, str]]
    slot_wait_h: float
    qa_wait_h: float
    ended_h: float | None


@dataclass
class Network:
    """Everything batches share in one simulation."""

    env: simpy.Environment
    world: World
    dispositions: Dispositions
    calendar: SlotCalendar
    inventory: Inventory = field(default_factory=Inventory)
    pools: dict[str, ReviewerPool] = field(default_factory=dict)
    reject_probability: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    journeys: list[Journey] = field(default_factory=list)
    running: dict[str, SimBatch] = field(default_factory=dict)
    on_close: Callable[[SimBatch], None] | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _later: dict[str, frozenset[str]] = field(default_factory=dict)
    _release: dict[str, dict[str, Limit]] = field(default_factory=dict)

    def start(self, defn: CompiledDefinition, order: Order) -> SimBatch:
        """Start one batch of `defn` for `order` now."""
        batch_id = f"S{next(self._ids):06d}"
        b = SimBatch(
            batch_id=batch_id,
            defn=defn,
            order=order,
            rec=new_record(batch_id, defn, order),
            network=self,
            arrived_h=self.env.now,
        )
        b.site = _manufacturing_site(b.rec) or ""
        from simulation.runner import run_batch

        b.process = self.env.process(run_batch(b))
        self.running[batch_id] = b
        return b

    def judged_later(self, defn: CompiledDefinition) -> frozenset[str]:
        """The definition's results judged by a decide step or a repeat (cached)."""
        found = self._later.get(defn.content_hash)
        if found is None:
            found = self._later[defn.content_hash] = defn.judged_later()
        return found

    def book_slot(self, b: SimBatch, site: str, params: Mapping[str, str]) -> None:
        """Book the batch's slot by the calendar's rule; the batch then waits for it."""
        cal = self.calendar
        legs = cal.legs(site, params, b.rec.sites)
        earliest, latest = cal.window(
            self.env.now, params, legs, b.order.window_start_h, b.order.window_end_h
        )
        day = cal.book(b.batch_id, legs, earliest, latest)
        b.slot = (site, day * DAY_H, (day + legs[0].days) * DAY_H)
        waited = (day - first_midnight_day(earliest)) * DAY_H
        b.slot_wait_h += waited
        b.slot_pending_h = waited

    def pool_of(self, b: SimBatch) -> ReviewerPool | None:
        """The QA reviewers of the batch's manufacturing site (or the network's)."""
        if not self.pools:
            return None
        return self.pools.get(b.site) or self.pools.get("*")

    def dispose(self, b: SimBatch, dev: Deviation) -> Generator[simpy.Event, Any, DecisionAction]:
        """QA reviews the deviation and chooses its disposition."""
        pool = self.pool_of(b)
        if pool is not None:
            b.qa_wait_h += yield from pool.decide()
        action = self.dispositions.choose(dev, b.person_retries.get(dev.step, 0))
        if action == DecisionAction.RETRY:
            delay = self.dispositions.delay_h(dev)
            if delay > 0:
                yield self.env.timeout(delay)
        return action

    def gate_decision(self, b: SimBatch, gate: Gate) -> Generator[simpy.Event, Any, str | None]:
        """A reviewer decides the gate: why the approval is refused or rejected, or None.

        The refusal is the engine's own rule (`workflows.authority.gate_refusal`), so a
        release gate refuses unjudged or out-of-specification results exactly as it does.
        """
        pool = self.pool_of(b)
        if pool is not None:
            b.qa_wait_h += yield from pool.decide()
        release = self._release.get(b.defn.content_hash)
        if release is None:
            release = self._release[b.defn.content_hash] = b.defn.release_specification()
        body = DecisionBody.model_construct(
            signature_id="simulated",
            batch_id=b.batch_id,
            target=gate.name,
            action=DecisionAction.APPROVE,
            signer_id="simulated-qa",
            printed_name="Simulated QA",
            role=gate.roles[0],
            signed_at=at(self.env.now),
            meaning=gate.meaning,
            reason="",
            record_hash="",
            key_id="",
        )
        # A release that needs a record review: the simulated reviewer reviews the record in
        # the same sitting (its time is the pool's), so the review always covers the record.
        judged = gate.model_copy(update={"record_review": False}) if gate.record_review else gate
        refusal = gate_refusal(
            judged, body, record=b.rec, specification=release, performers={}, done=b.done_at
        )
        if (
            refusal is None
            and self.reject_probability
            and self.rng.random() < self.reject_probability
        ):
            return "rejected by QA"
        return refusal

    def closed(self, b: SimBatch) -> None:
        """Record the journey of a batch that has ended."""
        self.running.pop(b.batch_id, None)
        self.journeys.append(journey(b, ended=True))
        if self.on_close is not None:
            self.on_close(b)


def _manufacturing_site(rec: BatchRecord) -> str | None:
    from workflows.vocabulary import PartyKind

    return rec.site_of_kind(PartyKind.MANUFACTURING_SITE)


def journey(b: SimBatch, *, ended: bool) -> Journey:
    """The journey of `b` so far."""
    # A batch that ended has its status from how it ended; one still running reads its runs.
    rec = b.rec if ended else b.record()
    rec.status = derive_status(rec)
    return Journey(
        batch_id=b.batch_id,
        product=rec.product,
        centre=b.order.centre,
        site=b.site,
        arrived_h=b.arrived_h,
        window_end_h=b.order.window_end_h,
        infused_h=b.infused_h,
        status=rec.status.value,
        reason=rec.abandoned_reason or rec.ended_outcome,
        deviations=[(d.kind.value, d.step) for d in rec.deviations],
        slot_wait_h=b.slot_wait_h,
        qa_wait_h=b.qa_wait_h,
        ended_h=b.env.now if ended else None,
    )


def run_one(
    defn: CompiledDefinition,
    *,
    faults: list[Fault] | None = None,
    decisions: Mapping[str, DecisionAction] | None = None,
    sites: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
    weight_kg: float | None = None,
    stock: Mapping[str, int] | None = None,
    until_days: float = 20 * 365,
) -> BatchRecord:
    """One batch with forced outcomes (conformance): nominal durations and values, `faults`
    fired as the durable engine's simulated adapter fires them, deviations disposed of as
    `decisions` says (by kind or `kind@step`), every gate approved. Returns its record."""
    env = simpy.Environment()
    net = Network(
        env=env,
        world=World(random.Random(0), faults=faults, forced=True),
        dispositions=ForcedDispositions(decisions or {}),
        calendar=SlotCalendar(lanes={}),
    )
    for inventory, doses in (stock or {}).items():
        net.inventory.add(inventory, f"LOT-{inventory}", doses)
    b = net.start(
        defn, Order(sites=dict(sites or {}), options=dict(options or {}), weight_kg=weight_kg)
    )
    env.run(until=until_days * DAY_H)
    rec = b.record()
    rec.status = derive_status(rec)
    return rec
