"""A definition at the demonstration's speed: its process clocks run as fast as its world.

`vein2vein dev --demo` runs the simulated outside world N times faster than real time (a
four-day expansion reports after 48 s at 7200x), but the engine's clocks are durable timers in
real time. Left alone, a 48-hour hold would take two real days to breach and nothing on the
board would ever become urgent. So a demonstration batch runs a copy of its definition whose
process durations (hold limits, report deadlines, follow-up visits and windows, series
intervals) are divided by the same speed, with a floor so that a machine's own latency is
never mistaken for a breach. Activity timeouts and retries are not process time and stay as
they are. The copy is a definition of its own: version `<version>+demo<N>x`, its own hash.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from workflows.definition import CompiledDefinition, recompiled
from workflows.language import Call, Policy

#: No scaled duration is shorter than this (a loaded machine answers within it).
FLOOR = timedelta(seconds=20)


def at_speed(
    defn: CompiledDefinition, speed: float, *, floor: timedelta = FLOOR
) -> CompiledDefinition:
    """`defn` with every process duration divided by `speed` (at least `floor`); `defn`
    itself when `speed` is 1 or less."""
    if speed <= 1:
        return defn
    stages = tuple(_scaled(stage, speed, floor) for stage in defn.stages)
    return recompiled(defn, stages=stages, version=f"{defn.version}+demo{speed:g}x")


def _scaled(value: Any, speed: float, floor: timedelta) -> Any:
    if isinstance(value, timedelta):
        return max(value / speed, floor) if value > timedelta(0) else value
    if isinstance(value, Call | Policy):  # how an activity is called is not process time
        return value
    if isinstance(value, BaseModel):
        changes = {
            name: _scaled(getattr(value, name), speed, floor) for name in type(value).model_fields
        }
        return value.model_copy(update=changes)
    if isinstance(value, tuple):
        return tuple(_scaled(v, speed, floor) for v in value)
    if isinstance(value, list):
        return [_scaled(v, speed, floor) for v in value]
    if isinstance(value, dict):
        return {k: _scaled(v, speed, floor) for k, v in value.items()}
    return value
