"""Slot chains: the slots one patient's process needs at several sites, booked and moved as one.

A manufacturing slot is worth nothing without the collection that feeds it and the infusion
chair it leads to. A chain names those other slots relative to the booked one (`book_slot`'s
own slot is the anchor, day 0): each leg is a party of the product, an offset in days from the
anchor's first day (negative: before it) and a length in days. `book_slot` finds the earliest
anchor day on which every leg has a free lane at its site and books them all in one
transaction, or none; `move_slot` moves the whole chain the same way; `release_slot` frees it.

In a definition the chain is the `chain` parameter of those calls, written with `slot_chain`:

    chain = slot_chain(
        leg("collection", at="treatment_centre", offset_days=-16, days=1),
        leg("infusion", at="treatment_centre", offset_days=21, days=1),
    )
    call("book_slot", at="manufacturing_site", timeout=minutes(5), attempts=3, chain=chain)
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

#: A leg's name: it keys the leg's booking and names its slot in the step's output.
LEG_NAME = r"[a-z][a-z0-9_]{0,39}"
_LEG = re.compile(rf"^({LEG_NAME})@([a-z][a-z0-9_]*):(-?\d{{1,3}}):(\d{{1,2}})$")


class ChainLeg(BaseModel):
    """One more slot of a chain: at `party`, `offset_days` from the anchor slot's first day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=f"^{LEG_NAME}$")
    party: str
    offset_days: int = Field(ge=-365, le=365)
    days: int = Field(ge=1, le=90)

    def text(self) -> str:
        """The leg as the `chain` parameter writes it."""
        return f"{self.name}@{self.party}:{self.offset_days}:{self.days}"


def leg(name: str, *, at: str, offset_days: int, days: int = 1) -> ChainLeg:
    """A leg of a slot chain (see the module docstring)."""
    return ChainLeg(name=name, party=at, offset_days=offset_days, days=days)


def slot_chain(*legs: ChainLeg) -> str:
    """The `chain` parameter of `book_slot`, `move_slot` and `release_slot` for `legs`."""
    return ",".join(lg.text() for lg in legs)


def parse_chain(text: str) -> list[ChainLeg]:
    """The legs of a `chain` parameter; `ValueError` names what is wrong."""
    legs: list[ChainLeg] = []
    for part in (p.strip() for p in text.split(",")):
        m = _LEG.match(part)
        if m is None:
            raise ValueError(f"'{part}' is not a leg (name@party:offset_days:days)")
        name, party, offset, days = m.groups()
        if any(lg.name == name for lg in legs):
            raise ValueError(f"leg '{name}' appears twice")
        if name == "slot":
            raise ValueError("'slot' names the anchor slot itself; choose another leg name")
        legs.append(ChainLeg(name=name, party=party, offset_days=int(offset), days=int(days)))
    return legs
