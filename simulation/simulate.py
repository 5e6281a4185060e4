"""Run a scenario: build the network, let patients arrive and lots start, advance the clock,
and collect every journey with the resources' samples."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import simpy

from simulation.batch import Order
from simulation.capacity import DAY_H, SlotCalendar
from simulation.dispositions import SampledDispositions
from simulation.faults import World
from simulation.network import Journey, Network, journey
from simulation.qa import Hours, ReviewerPool
from simulation.scenario import Scenario, ScenarioSite
from workflows.definition import CompiledDefinition
from workflows.vocabulary import PartyKind

#: Reports progress as the fraction of simulated time done.
Progress = Callable[[float], None]


@dataclass
class Samples:
    """Daily readings of the queues: batches waiting for their slot, by site, and decisions
    waiting for a QA reviewer, by pool."""

    days: list[float] = field(default_factory=list)
    slot_backlog: dict[str, list[int]] = field(default_factory=dict)
    qa_queue: dict[str, list[int]] = field(default_factory=dict)
    in_flight: list[int] = field(default_factory=list)


@dataclass
class SimulationResult:
    """What one run of a scenario produced."""

    scenario: Scenario
    journeys: list[Journey]
    calendar: SlotCalendar
    pools: dict[str, ReviewerPool]
    samples: Samples
    stock: dict[str, int]
    wall_s: float
    events: int = 0


def _sites_for(
    scenario: Scenario, defn: CompiledDefinition, centre: str, plant: str
) -> dict[str, str]:
    """The order's site for each party of the product."""
    sites = {}
    for party, kind in defn.party_kinds().items():
        if kind == PartyKind.TREATMENT_CENTRE:
            sites[party] = centre
        elif kind == PartyKind.MANUFACTURING_SITE:
            sites[party] = plant
        else:
            found = scenario.of_kind(kind)
            sites[party] = found[0].site_id if found else f"{kind.value}-1"
    return sites


class _Runner:
    def __init__(self, scenario: Scenario, catalog: Mapping[str, CompiledDefinition]) -> None:
        unknown = [p for p in [*scenario.products, *scenario.lots] if p not in catalog]
        if unknown:
            raise ValueError(f"unknown product(s) {', '.join(unknown)}; known: {sorted(catalog)}")
        self.s = scenario
        self.catalog = catalog
        seed = scenario.seed
        self.arrivals = random.Random(f"{seed}:arrivals")
        self.env = simpy.Environment()
        qa = scenario.qa
        hours = Hours(qa.start_h, qa.end_h, tuple(qa.weekdays))
        qa_rng = random.Random(f"{seed}:qa")
        plants = scenario.of_kind(PartyKind.MANUFACTURING_SITE)
        self.net = Network(
            env=self.env,
            world=World(
                random.Random(f"{seed}:world"),
                faults=list(scenario.faults),
                durations=scenario.durations,
            ),
            dispositions=SampledDispositions(
                random.Random(f"{seed}:dispositions"),
                scenario.dispositions.policy,
                max_retries=scenario.dispositions.max_retries,
                retry_after_h=scenario.dispositions.retry_after_h,
            ),
            calendar=SlotCalendar(lanes={s.site_id: s.lanes for s in scenario.sites.values()}),
            pools={
                p.site_id: ReviewerPool(
                    self.env, p.qa_reviewers, hours, qa.review, qa_rng, p.site_id
                )
                for p in plants
            },
            reject_probability=qa.reject_probability,
            rng=random.Random(f"{seed}:gates"),
        )
        self.samples = Samples()
        self.plants = [p.site_id for p in plants]

    def _arrive(self, centre: ScenarioSite) -> Generator[simpy.Event, Any, None]:
        rate_h = centre.patients_per_year / (365 * DAY_H)
        horizon = self.s.horizon_days * DAY_H
        products = list(centre.products.items()) or [(next(iter(self.s.products)), 1.0)]
        names, weights = [p for p, _ in products], [w for _, w in products]
        plant = centre.manufacturing_site or ""
        while True:
            gap = self.arrivals.expovariate(rate_h)
            if self.env.now + gap >= horizon:
                return
            yield self.env.timeout(gap)
            product = self.arrivals.choices(names, weights)[0]
            demand = self.s.products[product]
            defn = self.catalog[product]
            now = self.env.now
            weight = max(
                10.0, min(200.0, self.arrivals.gauss(demand.weight_kg, demand.weight_sd_kg))
            )
            self.net.start(
                defn,
                Order(
                    sites=_sites_for(self.s, defn, centre.site_id, plant),
                    options=dict(demand.options),
                    weight_kg=round(weight, 1),
                    window_start_h=now,
                    window_end_h=now + demand.window_days * DAY_H,
                    centre=centre.site_id,
                ),
            )

    def _lots(self, product: str) -> Generator[simpy.Event, Any, None]:
        lot = self.s.lots[product]
        defn = self.catalog[product]
        centres = self.s.of_kind(PartyKind.TREATMENT_CENTRE)
        centre = lot.centre or (centres[0].site_id if centres else "centre-1")
        while self.env.now < self.s.horizon_days * DAY_H:
            self.net.start(
                defn, Order(sites=_sites_for(self.s, defn, centre, lot.site), centre=centre)
            )
            yield self.env.timeout(lot.every_days * DAY_H)

    def _monitor(self) -> Generator[simpy.Event, Any, None]:
        s, net = self.samples, self.net
        while True:
            now = self.env.now
            s.days.append(now / DAY_H)
            waiting: dict[str, int] = dict.fromkeys(self.plants, 0)
            for b in net.running.values():
                if b.slot is not None and b.slot[1] > now and b.site in waiting:
                    waiting[b.site] += 1
            for site, n in waiting.items():
                s.slot_backlog.setdefault(site, []).append(n)
            for site, pool in net.pools.items():
                s.qa_queue.setdefault(site, []).append(len(pool.resource.queue))
            s.in_flight.append(len(net.running))
            yield self.env.timeout(DAY_H)

    def run(self, progress: Progress | None) -> SimulationResult:
        started = time.perf_counter()
        env = self.env
        for centre in self.s.of_kind(PartyKind.TREATMENT_CENTRE):
            if centre.patients_per_year > 0:
                env.process(self._arrive(centre))
        for product in self.s.lots:
            env.process(self._lots(product))
        env.process(self._monitor())
        end = (self.s.horizon_days + self.s.drain_days) * DAY_H
        chunk = 7 * DAY_H
        while env.now < end:
            env.run(until=min(end, env.now + chunk))
            if progress is not None:
                progress(env.now / end)
        journeys = self.net.journeys + [journey(b, ended=False) for b in self.net.running.values()]
        inv = self.net.inventory
        return SimulationResult(
            scenario=self.s,
            journeys=journeys,
            calendar=self.net.calendar,
            pools=self.net.pools,
            samples=self.samples,
            stock={name: inv.available(name) for name in inv.stock},
            wall_s=time.perf_counter() - started,
        )


def simulate(
    scenario: Scenario,
    catalog: Mapping[str, CompiledDefinition],
    *,
    progress: Progress | None = None,
) -> SimulationResult:
    """Run `scenario` with the products of `catalog`; same scenario and seed, same result."""
    return _Runner(scenario, catalog).run(progress)
