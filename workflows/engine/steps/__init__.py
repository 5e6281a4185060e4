"""One module per step kind, and the registry that maps each kind of the language to it.

Importing this package fails when a step kind of the language (`workflows.language.Step`)
has no handler here, so a new kind cannot be silently ignored at run time. To add a kind:
the language (`workflows/language.py`), one module here registered in `HANDLERS`, the
diagram (`workflows/diagram.py`), tests and docs.
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from workflows.engine.context import StepContext
from workflows.engine.steps import (
    branch,
    compute,
    decide,
    end,
    follow_up,
    gate,
    handoff,
    hold,
    parallel,
    repeat,
    series,
    task,
    wait_for,
)
from workflows.language import Step


@dataclass(frozen=True)
class Kind:
    """How the engine runs one step kind.

    `lifecycle=False` kinds are not recorded as a step run and never become a deviation
    themselves: a hold only arms a timer in the background; an end unwinds the batch.
    """

    run: Callable[[StepContext, Any], Awaitable[None]]
    lifecycle: bool = True


HANDLERS: dict[str, Kind] = {
    "task": Kind(task.run),
    "wait_for": Kind(wait_for.run),
    "handoff": Kind(handoff.run),
    "gate": Kind(gate.run),
    "hold": Kind(hold.run, lifecycle=False),
    "decide": Kind(decide.run),
    "parallel": Kind(parallel.run),
    "repeat": Kind(repeat.run),
    "follow_up": Kind(follow_up.run),
    "branch": Kind(branch.run),
    "end": Kind(end.run, lifecycle=False),
    "compute": Kind(compute.run),
    "series": Kind(series.run),
}


def _language_kinds() -> set[str]:
    union = typing.get_args(Step)[0]
    return {cls.model_fields["kind"].default for cls in typing.get_args(union)}


_missing = _language_kinds() - set(HANDLERS)
if _missing:
    raise ImportError(f"step kinds without a handler in workflows.engine.steps: {_missing}")


def handler(step: Step) -> Kind:
    """The handler of `step`'s kind."""
    return HANDLERS[step.kind]
