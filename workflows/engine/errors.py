"""How a step ends when it does not simply succeed: abandonment or a failure for a person.

Both are internal exceptions that never leave the workflow: `Abandon` unwinds the run to
compensation; `StepFailed` becomes a deviation that a person disposes of (`failures`).
"""

from __future__ import annotations

from workflows.model import DecisionAction, DeviationKind


class Abandon(Exception):
    """The batch is being abandoned; unwinds the interpreter to compensation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EndBatch(Exception):
    """The process reached an `end` step: unwinds the interpreter to compensation, then the
    batch ends with `outcome`, neither abandoned nor a deviation."""

    def __init__(self, step: str, outcome: str) -> None:
        super().__init__(outcome)
        self.step = step
        self.outcome = outcome


class Rework(Exception):
    """QA disposed of a deviation with a rework: the batch goes back to the top-level step
    `back_to` and runs again from there (`workflows.engine.workflow`)."""

    def __init__(self, back_to: str, deviation_id: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to
        self.deviation_id = deviation_id


class StepFailed(Exception):
    """A step failed; becomes a deviation that a person disposes of.

    `allowed` are the dispositions QA may choose; `results` names the specified results that
    the deviation judged out of specification (an exceptional release covers those only).
    """

    def __init__(
        self,
        kind: DeviationKind,
        description: str,
        allowed: tuple[DecisionAction, ...],
        results: tuple[str, ...] = (),
    ) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description
        self.allowed = allowed
        self.results = results


RETRY_OR_ABANDON = (DecisionAction.RETRY, DecisionAction.ABANDON)
CONTINUE_OR_ABANDON = (DecisionAction.CONTINUE, DecisionAction.ABANDON)
ANY_TECHNICAL = (DecisionAction.RETRY, DecisionAction.CONTINUE, DecisionAction.ABANDON)
OOS = (DecisionAction.RETRY, DecisionAction.EXCEPTIONAL_RELEASE, DecisionAction.ABANDON)
EXCEPTION_OR_ABANDON = (DecisionAction.EXCEPTIONAL_RELEASE, DecisionAction.ABANDON)
