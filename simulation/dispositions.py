"""How QA disposes of a simulated deviation: forced (conformance: the same decisions a test
signs on the durable engine) or drawn from the scenario's policy."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Protocol

from workflows.model import DecisionAction, Deviation


class Dispositions(Protocol):
    """Chooses the disposition of a deviation (one of those it allows)."""

    def choose(self, deviation: Deviation, retries: int) -> DecisionAction:
        """The action for `deviation`; `retries` is how often a person retried its step."""
        ...

    def delay_h(self, deviation: Deviation) -> float:
        """Hours after the decision before the batch acts on it (e.g. waiting for stock)."""
        ...


def _key(deviation: Deviation) -> tuple[str, str]:
    return f"{deviation.kind.value}@{deviation.step}", deviation.kind.value


def allowed_or_fallback(wanted: DecisionAction | None, deviation: Deviation) -> DecisionAction:
    """`wanted` when the deviation allows it; else continue, then abandon, then the first."""
    allowed = deviation.allowed
    for action in (wanted, DecisionAction.CONTINUE, DecisionAction.ABANDON):
        if action is not None and action in allowed:
            return action
    return allowed[0]


class ForcedDispositions:
    """Dispositions given by deviation kind (or `kind@step`), as a test would sign them."""

    def __init__(self, decisions: Mapping[str, DecisionAction]) -> None:
        self.decisions = dict(decisions)

    def choose(self, deviation: Deviation, retries: int) -> DecisionAction:
        """The action named for the deviation's `kind@step` or kind."""
        wanted = next((self.decisions[k] for k in _key(deviation) if k in self.decisions), None)
        return allowed_or_fallback(wanted, deviation)

    def delay_h(self, deviation: Deviation) -> float:
        """Forced decisions act at once."""
        return 0.0


class SampledDispositions:
    """Dispositions drawn with the policy's weights (by `kind@step`, then kind); a step
    retried `max_retries` times is abandoned."""

    def __init__(
        self,
        rng: random.Random,
        weights: Mapping[str, Mapping[DecisionAction, float]],
        *,
        max_retries: int,
        retry_after_h: Mapping[str, float],
    ) -> None:
        self.rng = rng
        self.weights = {k: dict(v) for k, v in weights.items()}
        self.max_retries = max_retries
        self.retry_after = dict(retry_after_h)

    def choose(self, deviation: Deviation, retries: int) -> DecisionAction:
        """An allowed action drawn from the policy's weights for this deviation."""
        weights = next((self.weights[k] for k in _key(deviation) if k in self.weights), {})
        usable = {a: w for a, w in weights.items() if a in deviation.allowed and w > 0}
        if retries >= self.max_retries:
            usable.pop(DecisionAction.RETRY, None)
        if not usable:
            return allowed_or_fallback(None, deviation)
        draw = self.rng.random() * sum(usable.values())
        for action, w in usable.items():
            draw -= w
            if draw < 0:
                return action
        return next(iter(usable))

    def delay_h(self, deviation: Deviation) -> float:
        """The policy's wait before a retried step runs again."""
        return next((self.retry_after[k] for k in _key(deviation) if k in self.retry_after), 0.0)
