"""Size bounds on what enters a batch's history from outside: reports, decisions, recalls, orders.

Temporal stores every update argument and start input in history, forever, and replays it on
every cache miss; one 1.5 MB `data` value makes each later replay of that batch slower. The
models in `workflows.model` stay unbounded on purpose: they are what recorded histories are
read back into, and tightening them could make an old history fail to load. The bounds live
here instead, as stricter subclasses, and are applied where input enters:

- the service uses the bounded models as its request bodies (422 naming the field);
- `workflows.client` checks before it sends (the CLI and the activities go through it);
- the batch workflow's update validators check too, for a caller that reaches Temporal
  directly. Validators run only when an update arrives, never on replay, so a recorded
  history is never re-judged by a bound added later.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, ValidationError

from workflows import content
from workflows.model import (
    CustodyReport,
    DecisionBody,
    ExternalEvent,
    LotRecall,
    Order,
    ResultValue,
    SignedDecision,
)

#: Names: steps, event types, keys of `data` and `results`, parties, sites, units, ids.
MAX_NAME = 80
#: Free text: a value of `data`, a reason, a location, a meaning.
MAX_TEXT = 2000
#: Entries of one mapping or list: `data`, `results`, `lots`, an order's sites and options.
MAX_ENTRIES = 50

Name = Annotated[str, StringConstraints(max_length=MAX_NAME)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
#: A report's plain `data`: at most `MAX_ENTRIES` keys, each a `Name`, each value a `Text`.
Data = Annotated[dict[Name, Text], Field(max_length=MAX_ENTRIES)]


class BoundedResult(ResultValue):
    """A `ResultValue` within the bounds."""

    value: float | Text
    unit: Name = ""
    method: Name = ""


#: Recorded results by name, each within the bounds.
Results = Annotated[dict[Name, BoundedResult], Field(max_length=MAX_ENTRIES)]
#: Lot numbers consumed.
Lots = Annotated[list[Name], Field(max_length=MAX_ENTRIES)]


class BoundedCustody(CustodyReport):
    """A `CustodyReport` within the bounds."""

    from_party: Name
    to_party: Name
    scanned_coi: Name
    container_label: Name
    location: Text


class BoundedEvent(ExternalEvent):
    """An `ExternalEvent` within the bounds."""

    step: Name
    type: Name
    reporter: Name
    outcome: Name = "ok"
    results: Results = Field(default_factory=dict)  # type: ignore[assignment]
    custody: BoundedCustody | None = None
    lots: Lots = Field(default_factory=list)
    data: Data = Field(default_factory=dict)


class BoundedDecisionBody(DecisionBody):
    """A `DecisionBody` within the bounds."""

    batch_id: Name
    target: Name
    signer_id: Name
    printed_name: Annotated[str, StringConstraints(max_length=120)]
    meaning: Annotated[str, StringConstraints(max_length=200)]
    reason: Text = ""
    record_hash: Name
    key_id: Name
    # Kept out of the signed bytes while unset, as in `DecisionBody` (`workflows.content`).
    conditions: Text | None = content.added(None)
    rework_to: Name | None = content.added(None)


class BoundedDecision(SignedDecision):
    """A `SignedDecision` within the bounds."""

    body: BoundedDecisionBody
    signature: Annotated[str, StringConstraints(max_length=256)]


class BoundedRecall(LotRecall):
    """A `LotRecall` within the bounds."""

    lot: Name
    reason: Annotated[str, StringConstraints(min_length=3, max_length=MAX_TEXT)]
    requested_by: Name


#: An order's sites or options: party (or option) name to site (or choice).
Choices = Annotated[dict[Name, Name], Field(max_length=MAX_ENTRIES)]


class BoundedOrder(Order):
    """An `Order` within the bounds."""

    sites: Choices = Field(default_factory=dict)
    options: Choices = Field(default_factory=dict)


class TooLarge(ValueError):
    """Input over a bound; the message names each field and its bound."""


_BOUNDED: dict[type[BaseModel], type[BaseModel]] = {
    ExternalEvent: BoundedEvent,
    SignedDecision: BoundedDecision,
    LotRecall: BoundedRecall,
    Order: BoundedOrder,
}


def check_bounds(value: ExternalEvent | SignedDecision | LotRecall | Order) -> None:
    """Raise `TooLarge` naming every field of `value` that is over its bound."""
    bounded = next(b for m, b in _BOUNDED.items() if isinstance(value, m))
    if isinstance(value, bounded):
        return  # validated as the bounded model already
    try:
        bounded.model_validate(value.model_dump())
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in err.errors(include_input=False, include_url=False)
        ]
        raise TooLarge("; ".join(problems)) from None
