"""QA reviewers: a SimPy resource per pool, who sign only in working hours.

A gate's decision or a deviation's disposition waits for a free reviewer of the batch's
manufacturing site, then for working hours, then takes the review's time (which stops at
closing time and goes on the next working day).
"""

from __future__ import annotations

import random
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from simulation.faults import Distribution

WEEK_H = 168.0


@dataclass
class Hours:
    """Working hours: from `start` to `end` o'clock on `weekdays` (0 = Monday)."""

    start: float = 8.0
    end: float = 17.0
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)

    def next_open(self, t: float) -> float:
        """The first working instant at or after `t` (hours since a Monday midnight)."""
        for _ in range(15):
            day, hour = divmod(t, 24.0)
            if int(day) % 7 in self.weekdays and hour < self.end:
                return t if hour >= self.start else day * 24.0 + self.start
            t = (day + 1) * 24.0
        raise ValueError("working hours with no working time")

    def finish(self, t: float, work: float) -> float:
        """When `work` hours of review started at working instant `t` are done."""
        while True:
            t = self.next_open(t)
            closes = (t // 24.0) * 24.0 + self.end
            if t + work <= closes:
                return t + work
            work -= closes - t
            t = closes


@dataclass
class ReviewerPool:
    """The QA reviewers of one site, their hours and how long a review takes."""

    env: simpy.Environment
    reviewers: int
    hours: Hours
    review: Distribution
    rng: random.Random
    name: str = ""
    resource: simpy.Resource = field(init=False)
    #: Hours each decision waited for a reviewer and for working hours.
    waits: list[float] = field(default_factory=list)
    busy_h: float = 0.0

    def __post_init__(self) -> None:
        self.resource = simpy.Resource(self.env, capacity=self.reviewers)

    def decide(self) -> Generator[simpy.Event, Any, float]:
        """Wait for a reviewer in working hours, review; the hours spent waiting."""
        asked = self.env.now
        with self.resource.request() as req:
            yield req
            starts = self.hours.next_open(self.env.now)
            work = self.review.sample(self.rng)
            done = self.hours.finish(starts, work)
            yield self.env.timeout(done - self.env.now)
            self.busy_h += work
        waited = starts - asked
        self.waits.append(waited)
        return waited
