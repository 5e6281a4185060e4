"""Reservations under bursts: 200 bookings and 60 allocations at once, each also retried,
on SQLite and PostgreSQL. Every request ends booked (or allocated) or refused for lack of
capacity; nothing is overbooked, nothing is reserved twice under one key."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import create_engine, event

from records.reservations import NoCapacity, OutOfStock, Reservations
from workflows.entities import AddLot, AllocateRequest, SlotRequest

T = TypeVar("T")

MONDAY = datetime(2027, 3, 1, tzinfo=UTC)
LANES = 3
THREADS = 16


def _store(url: str) -> Reservations:
    res = Reservations(create_engine(url, pool_size=THREADS, max_overflow=0))
    res.create_schema()
    return res


def _burst(requests: list[T], act: Callable[[T], object]) -> list[object]:
    start = threading.Barrier(THREADS)

    def each(chunk: list[T]) -> list[object]:
        start.wait()
        out: list[object] = []
        for r in chunk:
            try:
                out.append(act(r))
            except (NoCapacity, OutOfStock) as refused:
                out.append(refused)
        return out

    chunks = [requests[n::THREADS] for n in range(THREADS)]
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return [r for part in pool.map(each, chunks) for r in part]


def _request(n: int) -> SlotRequest:
    # Two possible start days for 14-day slots: a slot starting on the second day overlaps one
    # starting on the first on the same lane, so the site holds exactly one per lane.
    return SlotRequest(
        key=f"B-{n:04d}:slot",
        batch_id=f"B-{n:04d}",
        earliest=MONDAY,
        latest=MONDAY + timedelta(days=1),
        days=14,
    )


def test_a_burst_of_bookings_never_overbooks(ledger_url: str) -> None:
    res = _store(ledger_url)
    requests = [_request(n) for n in range(200)]
    # Each request twice, as a retried activity would send it.
    outcomes = _burst([*requests, *requests], lambda r: res.book("MFG-BURST", LANES, r))
    refused = [o for o in outcomes if isinstance(o, NoCapacity)]
    booked = res.bookings("MFG-BURST")
    assert len(booked) == LANES
    assert len(refused) == 2 * 200 - 2 * LANES
    assert all("no slot at MFG-BURST" in str(r) for r in refused)
    assert sorted(s.lane for s in booked) == [1, 2, 3]
    # A retry of a booked request gets the same slot back, never a second one.
    for slot in booked:
        again = res.book("MFG-BURST", LANES, _request(int(slot.batch_id[2:])))
        assert again == slot
    days = res.capacity("MFG-BURST", LANES, date(2027, 3, 1), 16)
    assert [d.free for d in days] == [0] * 14 + [LANES] * 2
    # Releasing frees the lane for the next request, once.
    assert res.release(booked[0].key) and not res.release(booked[0].key)
    assert res.book("MFG-BURST", LANES, _request(999)).lane == booked[0].lane


def test_moving_a_booking_frees_its_days_and_keeps_it_when_nothing_is_free(
    ledger_url: str,
) -> None:
    res = _store(ledger_url)
    first = [res.book("MFG-MOVE", LANES, _request(n)) for n in range(LANES)]
    later = _request(0).model_copy(
        update={"earliest": MONDAY + timedelta(days=20), "latest": MONDAY + timedelta(days=25)}
    )
    moved = res.move("MFG-MOVE", LANES, later)
    assert moved.start == MONDAY + timedelta(days=20)
    # The days it left are free: a new batch gets them.
    assert res.book("MFG-MOVE", LANES, _request(3)).lane == first[0].lane
    # Back into the now-full window: refused, and the booking stays where it was.
    try:
        res.move("MFG-MOVE", LANES, _request(0))
        raise AssertionError("moved into a full window")
    except NoCapacity:
        pass
    assert res.calendar("MFG-MOVE", LANES).bookings["B-0000:slot"] == moved


def test_a_burst_of_allocations_gives_each_dose_once(ledger_url: str) -> None:
    res = _store(ledger_url)
    lot = AddLot(key="LOT-1:lot", lot_id="LOT-1", doses=20)
    assert res.add_lot("allo", lot) == res.add_lot("allo", lot)  # a retried release adds once
    requests = [
        AllocateRequest(key=f"B-{n:04d}:dose", batch_id=f"B-{n:04d}", count=1) for n in range(60)
    ]
    now = MONDAY
    outcomes = _burst([*requests, *requests], lambda r: res.allocate("allo", r, now))
    stock = res.stock("allo", now)
    doses = Counter(d for a in stock.allocations.values() for d in a.doses)
    assert len(stock.allocations) == 20 and set(doses.values()) == {1} and not stock.available
    assert sum(isinstance(o, OutOfStock) for o in outcomes) == 2 * 60 - 2 * 20
    # Giving back is idempotent and puts the doses first in line again.
    first = next(iter(stock.allocations))
    back = res.give_back(first)
    assert back and res.give_back(first) == []
    assert res.stock("allo", now).available == back


def test_expired_doses_are_never_allocated(ledger_url: str) -> None:
    res = _store(ledger_url)
    res.add_lot("lnp", AddLot(key="OLD:lot", lot_id="OLD", doses=2, expires=MONDAY))
    res.add_lot("lnp", AddLot(key="NEW:lot", lot_id="NEW", doses=2))
    later = MONDAY + timedelta(days=1)
    alloc = res.allocate("lnp", AllocateRequest(key="B-1:dose", batch_id="B-1", count=2), later)
    assert alloc.doses == ["NEW-D001", "NEW-D002"]
    try:
        res.allocate("lnp", AllocateRequest(key="B-2:dose", batch_id="B-2", count=1), later)
        raise AssertionError("an expired dose was allocated")
    except OutOfStock as err:
        assert "0 dose(s) available" in str(err)


def _interleave(res: Reservations, table: str, other: Callable[[], object]) -> list[object]:
    """Run `other` to completion, in another thread and transaction, right after this thread's
    next read of `table`: the moment a retried request has looked up its key and found none."""
    done: list[object] = []
    mine = threading.get_ident()

    def after(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if done or threading.get_ident() != mine or not statement.lstrip().startswith("SELECT"):
            return
        if f"FROM {table}" in statement:
            worker = threading.Thread(target=lambda: done.append(other()))
            worker.start()
            worker.join(timeout=60)
            assert done, "the other request did not finish"

    event.listen(res.engine, "after_cursor_execute", after)
    return done


@pytest.fixture
def interleavable_url(ledger_url: str) -> str:
    """A database where a transaction may read before another commits: PostgreSQL. SQLite
    takes the write lock before the first read, so no such interleaving exists there."""
    if ledger_url.startswith("sqlite"):
        pytest.skip("SQLite takes the write lock before the first read: no such interleaving")
    return ledger_url


def test_a_retry_racing_its_first_try_for_the_last_dose_gets_the_same_dose(
    interleavable_url: str,
) -> None:
    res = _store(interleavable_url)
    res.add_lot("allo", AddLot(key="LOT-1:lot", lot_id="LOT-1", doses=1))
    req = AllocateRequest(key="B-0001:dose", batch_id="B-0001", count=1)
    # The first try commits the last dose after the retry found no allocation under its key:
    # the retry must still answer with that dose, never "out of stock".
    first = _interleave(res, "inventory_allocations", lambda: res.allocate("allo", req, MONDAY))
    again = res.allocate("allo", req, MONDAY)
    assert first == [again] and again.doses == ["LOT-1-D001"]


def test_a_retry_racing_its_first_try_for_the_last_lane_gets_the_same_slot(
    interleavable_url: str,
) -> None:
    res = _store(interleavable_url)
    req = _request(1)
    first = _interleave(res, "slot_bookings", lambda: res.book("MFG-ONE", 1, req))
    again = res.book("MFG-ONE", 1, req)
    assert first == [again] and again.lane == 1
