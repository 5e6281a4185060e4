"""The step trace two executors of one definition must agree on.

A pure function of the engine's `BatchRecord`, which the durable engine publishes by its
`record` query and the simulator fills as it runs: every step run in the order it started,
with its iteration and how it ended; every deviation with its kind, step and disposition;
the compensations run; and the status derived from those facts. Times are left out: the
executors agree on what happened, not on how long the simulated world took.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from workflows.model import BatchRecord
from workflows.status import derive_status


class Trace(BaseModel):
    """What happened to one batch, comparable across executors."""

    model_config = ConfigDict(frozen=True)

    steps: tuple[tuple[str, int, str], ...]
    deviations: tuple[tuple[str, str, str | None], ...]
    compensations: tuple[str, ...]
    status: str

    def lines(self) -> list[str]:
        """One line per fact, for a readable difference when two traces disagree."""
        return [
            *(f"step {s} #{i}: {state}" for s, i, state in self.steps),
            *(f"deviation {k} at {s}: {d}" for k, s, d in self.deviations),
            *(f"compensation {c}" for c in self.compensations),
            f"status {self.status}",
        ]


def trace(record: BatchRecord) -> Trace:
    """The trace of `record`."""
    return Trace(
        steps=tuple((r.step, r.iteration, r.state.value) for r in record.steps),
        deviations=tuple(
            (d.kind.value, d.step, d.disposition.value if d.disposition else None)
            for d in record.deviations
        ),
        compensations=tuple(record.compensations),
        status=derive_status(record).value,
    )
