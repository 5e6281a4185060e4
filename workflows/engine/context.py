"""What a step kind's handler receives: the batch's state and where the step runs."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from workflows.engine.state import BatchState
from workflows.language import Step

#: Runs a (nested) step through the whole step lifecycle: `runner.execute`.
Execute = Callable[[BatchState, Step, str, int], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class StepContext:
    """The batch, the stage and iteration a step runs in, and how to run nested steps."""

    state: BatchState
    stage: str
    iteration: int
    execute: Execute
