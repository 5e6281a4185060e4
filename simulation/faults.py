"""What goes wrong in a simulated batch, and how long the outside world takes.

One `World` serves both modes of the simulator. Sampled (capacity planning): durations are
drawn from the scenario's distributions and each fault fires with its probability. Forced
(conformance): durations are the nominal ones and each fault fires exactly as the simulated
adapter of the durable engine fires it (`activities.simulated.SimulatedWorld`: matched by
step, activity and result, at most `times` per batch), so both executors see the same faults.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from activities.sim_tables import DURATIONS_H, NOMINAL, Fault, FaultKind


class Distribution(BaseModel):
    """How long one kind of outside work takes, in hours.

    `uniform`: mean x U(1 - spread, 1 + spread) (the simulated adapter's own rule with spread
    0.1); `lognormal`: median `mean_h`, shape `spread`; `triangular`: from mean x (1 - spread)
    to mean x (1 + 3 spread), mode `mean_h` (a long right tail); `fixed`: always `mean_h`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mean_h: float = Field(ge=0)
    dist: Literal["uniform", "lognormal", "triangular", "fixed"] = "uniform"
    spread: float = Field(default=0.1, ge=0, le=3)

    def sample(self, rng: random.Random) -> float:
        """One duration in hours."""
        m, s = self.mean_h, self.spread
        if self.dist == "fixed" or m == 0:
            return m
        if self.dist == "uniform":
            return m * rng.uniform(1 - s, 1 + s)
        if self.dist == "lognormal":
            return m * rng.lognormvariate(0.0, s)
        return rng.triangular(m * max(0.0, 1 - s), m * (1 + 3 * s), m)


class World:
    """Durations, result values and faults for the batches of one simulation.

    `forced=True` is the conformance mode: nominal durations and values, no draw at all.
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        faults: list[Fault] | None = None,
        durations: Mapping[str, Distribution] | None = None,
        values: Mapping[str, tuple[float | str, float | str, str]] | None = None,
        forced: bool = False,
    ) -> None:
        self.rng = rng
        self.faults = list(faults or [])
        self.forced = forced
        self.durations = {name: Distribution(mean_h=h) for name, h in DURATIONS_H.items()} | dict(
            durations or {}
        )
        self.values = {**NOMINAL, **dict(values or {})}
        # The faults that may fire on a call, by kind, step, activity and result.
        self._matching: dict[tuple[str, str, str, str | None], list[tuple[int, Fault]]] = {}

    def hours(self, operation: str) -> float:
        """How long `operation` (an MES operation or an activity) takes, in hours."""
        d = self.durations.get(operation) or self.durations["default"]
        return d.mean_h if self.forced else d.sample(self.rng)

    def value(self, name: str, *, failing: bool) -> tuple[float | str, str]:
        """The value the outside world reports for result `name`, and its unit."""
        good, bad, unit = self.values.get(name, (1.0, 0.0, ""))
        value = bad if failing else good
        if isinstance(value, float) and value and not self.forced:
            value = round(value * self.rng.uniform(0.97, 1.03), 4)
        return value, unit

    def fault(
        self,
        fired: dict[int, int],
        kind: FaultKind,
        step: str,
        activity: str,
        *,
        result: str | None = None,
    ) -> Fault | None:
        """The fault of `kind` that fires on this call, counted in the batch's `fired`."""
        key = (kind, step, activity, result)
        candidates = self._matching.get(key)
        if candidates is None:
            candidates = self._matching[key] = [
                (i, f)
                for i, f in enumerate(self.faults)
                if f.kind == kind
                and f.step in (None, step)
                and f.activity in (None, activity)
                and (kind != "oos" or f.result in (None, result))
            ]
        for index, f in candidates:
            if fired.get(index, 0) >= f.times:
                continue
            if f.probability < 1 and self.rng.random() >= f.probability:
                continue
            fired[index] = fired.get(index, 0) + 1
            return f
        return None
