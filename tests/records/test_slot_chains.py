"""Slot chains on SQLite and PostgreSQL: a collection chair, a manufacturing lane and an
infusion chair booked together at the earliest day all three are free, all or none; moved
together; released together; and a burst of chains never overbooks any of the sites."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine

from records.reservations import NoCapacity, Reservations
from records.slots import SlotLeg
from tests.records.test_reservations import THREADS, _burst

DAY0 = datetime(2027, 3, 1, tzinfo=UTC)


def _store(url: str) -> Reservations:
    res = Reservations(create_engine(url, pool_size=THREADS, max_overflow=0))
    res.create_schema()
    return res


def _chain(batch: str, chairs: int = 1, lanes: int = 2) -> list[SlotLeg]:
    key = f"{batch}:slot"
    return [
        SlotLeg(key=key, site="MFG", lanes=lanes, days=10),
        SlotLeg(key=f"{key}:collection", site="TC", lanes=chairs, offset_days=-3, days=1),
        SlotLeg(key=f"{key}:infusion", site="TC", lanes=chairs, offset_days=14, days=1),
    ]


def test_a_chain_books_every_leg_at_the_first_day_all_are_free(ledger_url: str) -> None:
    res = _store(ledger_url)
    # The treatment centre's only chair is taken on the day the first chain would infuse.
    res.book_chain(
        [SlotLeg(key="OTHER:slot", site="TC", lanes=1, days=1)],
        "OTHER",
        DAY0 + timedelta(days=14),
        DAY0 + timedelta(days=14),
    )

    slots = res.book_chain(_chain("B-1"), "B-1", DAY0, DAY0 + timedelta(days=5))

    anchor, collection, infusion = slots
    assert anchor.start == DAY0 + timedelta(days=1), "day 0 infuses on the taken chair"
    assert collection.start == anchor.start - timedelta(days=3)
    assert infusion.start == anchor.start + timedelta(days=14)
    assert res.book_chain(_chain("B-1"), "B-1", DAY0, DAY0 + timedelta(days=5)) == slots
    assert {s.key for s in res.bookings("TC")} == {
        "OTHER:slot",
        "B-1:slot:collection",
        "B-1:slot:infusion",
    }


def test_a_chain_that_does_not_fit_books_nothing(ledger_url: str) -> None:
    res = _store(ledger_url)
    res.book_chain(_chain("B-1"), "B-1", DAY0, DAY0)

    # One more chain on day 0 only: a manufacturing lane is free, but not the chairs.
    with pytest.raises(NoCapacity, match="all 3 slots of the chain"):
        res.book_chain(_chain("B-2"), "B-2", DAY0, DAY0)

    assert [s.key for s in res.bookings("MFG")] == ["B-1:slot"]
    assert len(res.bookings("TC")) == 2


def test_a_chain_moves_together_or_stays_and_is_released_together(ledger_url: str) -> None:
    res = _store(ledger_url)
    first = res.book_chain(_chain("B-1"), "B-1", DAY0, DAY0)
    res.book_chain(_chain("B-2"), "B-2", DAY0 + timedelta(days=7), DAY0 + timedelta(days=7))

    moved = res.move_chain(_chain("B-1"), "B-1", DAY0 + timedelta(days=2), DAY0 + timedelta(days=9))
    assert moved[0].start == DAY0 + timedelta(days=2)
    assert [s.start - first[i].start for i, s in enumerate(moved)] == [timedelta(days=2)] * 3
    # Day 7 only: B-2's chairs are taken, so B-1 keeps all three where they were.
    with pytest.raises(NoCapacity):
        res.move_chain(_chain("B-1"), "B-1", DAY0 + timedelta(days=7), DAY0 + timedelta(days=7))
    assert sorted(s.start for s in res.bookings("TC") if s.batch_id == "B-1") == [
        moved[1].start,
        moved[2].start,
    ]

    assert res.release("B-1:slot") is True
    assert {s.batch_id for s in [*res.bookings("TC"), *res.bookings("MFG")]} == {"B-2"}
    assert res.release("B-1:slot") is False


def test_a_burst_of_chains_never_overbooks_any_site(ledger_url: str) -> None:
    res = _store(ledger_url)
    chairs, lanes = 2, 3
    batches = [f"B-{n:03d}" for n in range(60)]

    outcomes = _burst(
        batches,
        lambda b: res.book_chain(_chain(b, chairs, lanes), b, DAY0, DAY0 + timedelta(days=2)),
    )

    booked = [o for o in outcomes if isinstance(o, list)]
    assert len(booked) + sum(isinstance(o, NoCapacity) for o in outcomes) == len(batches)
    assert booked, "some chains fit"
    for site, width in (("MFG", lanes), ("TC", chairs)):
        per_day: Counter[str] = Counter()
        for slot in res.bookings(site):
            for n in range((slot.end - slot.start).days):
                per_day[(slot.start + timedelta(days=n)).date().isoformat()] += 1
        assert max(per_day.values()) <= width, f"{site} overbooked"
    # All or none: every booked chain holds its three slots, no refused one holds any.
    keys = Counter(s.batch_id for site in ("MFG", "TC") for s in res.bookings(site))
    assert set(keys.values()) == {3}
    assert len(keys) == len(booked)
