"""The operations board, the QA deviation queue and the capacity view, over HTTP; and the
board's risk and order as pure functions of the clocks the engine published."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from activities import Fault
from definitions import AUTOLOGOUS_CD19_CAR_T
from records.reservations import Reservations
from tests.harness import Harness
from tests.products import FLAKY_BOOKING
from tests.service.support import Client, People
from vein2vein.service.board import Risk, Sort, board_row, risk_of, sort_rows
from vein2vein.service.views import spec_rows
from workflows.entities import SlotRequest
from workflows.model import (
    Awaiting,
    AwaitKind,
    BatchRecord,
    Clock,
    ClockKind,
    RecordedResult,
    Role,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _clock(span: timedelta, left: timedelta, name: str = "c") -> Clock:
    limit = NOW + left
    return Clock(name=name, kind=ClockKind.HOLD, started=limit - span, limit=limit, remaining=left)


def _rec(batch_id: str, clocks: Sequence[Clock] = (), since: datetime | None = None) -> BatchRecord:
    awaiting = (
        [Awaiting(kind=AwaitKind.DECISION, target="qa_disposition", since=since)] if since else []
    )
    return BatchRecord(
        batch_id=batch_id,
        product="p",
        definition_version="1",
        definition_hash="h",
        order_id="o",
        sites={"manufacturing_site": "MFG-EAST"},
        clocks=list(clocks),
        awaiting=awaiting,
    )


def test_risk_is_the_published_remaining_against_a_quarter_of_the_span_capped_at_12_h() -> None:
    assert risk_of(_clock(timedelta(minutes=30), timedelta(minutes=-1))) == Risk.OVERDUE
    assert risk_of(_clock(timedelta(minutes=30), timedelta(minutes=7))) == Risk.NEAR
    assert risk_of(_clock(timedelta(minutes=30), timedelta(minutes=8))) == Risk.FINE
    assert risk_of(_clock(timedelta(days=21), timedelta(hours=11))) == Risk.NEAR
    assert risk_of(_clock(timedelta(days=21), timedelta(hours=13))) == Risk.FINE
    unread = _clock(timedelta(days=1), timedelta(hours=1)).model_copy(update={"remaining": None})
    assert risk_of(unread) == Risk.NONE


def test_board_orders_most_urgent_first_then_by_waiting_or_by_batch() -> None:
    recs = [
        _rec("B-A", since=NOW - timedelta(days=3)),
        _rec("B-B", [_clock(timedelta(days=3), timedelta(days=2))]),
        _rec("B-C", [_clock(timedelta(hours=2), timedelta(minutes=-5))]),
        _rec("B-D", [_clock(timedelta(days=3), timedelta(hours=2))], since=NOW - timedelta(days=1)),
        _rec("B-E"),
    ]
    rows = [board_row(r, NOW) for r in recs]
    assert [r.batch_id for r in sort_rows(rows, Sort.URGENCY)] == [
        "B-C",
        "B-D",
        "B-B",
        "B-A",
        "B-E",
    ]
    assert [r.batch_id for r in sort_rows(rows, Sort.WAITING)][:2] == ["B-A", "B-D"]
    assert [r.batch_id for r in sort_rows(rows, Sort.BATCH)] == sorted(r.batch_id for r in recs)
    gate = next(r for r in rows if r.batch_id == "B-A")
    assert gate.next.text == "waiting 3 d for decision at qa_disposition"
    assert gate.next.at == NOW - timedelta(days=3)


def test_results_print_with_four_significant_digits_and_units() -> None:
    rec = _rec("B-Q").model_copy(
        update={
            "results": {
                "cells": RecordedResult(
                    name="cells",
                    value=2_416_800_000.0,
                    unit="cells",
                    step="s",
                    at=NOW,
                    reporter="x",
                )
            }
        }
    )
    assert spec_rows(None, rec)[0].value == "2.417 \u00d7 10\u2079 cells"


def _row(html: str, batch_id: str) -> str:
    return html[html.index(f'data-batch="{batch_id}"') :].split("</tr>")[0]


@pytest.fixture
def berlin(app: FastAPI) -> Iterator[None]:
    """The deployment's display zone set to Europe/Berlin for one test."""
    ctx = app.state.ctx
    before = ctx.settings
    ctx.settings = before.model_copy(update={"time_zone": "Europe/Berlin"})
    yield
    ctx.settings = before


@pytest.mark.usefixtures("berlin")
async def test_board_shows_gate_waits_clocks_and_sorts_from_the_link(
    client: Client, people: People, harness: Harness
) -> None:
    gate = await harness.start(AUTOLOGOUS_CD19_CAR_T)
    await harness.until_waiting(gate, "decision at qa_disposition", step=timedelta(hours=6))
    clocked = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(clocked, "event custody at receipt", step=timedelta(minutes=30))
    http = await client(user=people.make(Role.OPERATOR))

    board = (await http.get("/console")).text
    row = _row(board, gate.id)
    assert re.search(r"waiting \d.* for decision at qa_disposition", row), row
    assert re.search(r'since <time datetime="[0-9T:-]+Z" title="[0-9T:-]+Z">[^<]+ CET</time>', row)
    assert 'data-risk="fine">receipt' in _row(board, clocked.id)
    assert board.index(f'data-batch="{clocked.id}"') < board.index(f'data-batch="{gate.id}"')

    waiting = (await http.get("/console", params={"sort": "waiting"})).text
    assert waiting.index(f'data-batch="{gate.id}"') < waiting.index(f'data-batch="{clocked.id}"')
    assert 'id="board" data-sort="waiting"' in waiting

    chosen = (await http.get("/console", params={"product": FLAKY_BOOKING.product})).text
    assert f'href="/console?product={FLAKY_BOOKING.product}&amp;sort=batch"' in chosen
    assert gate.id not in chosen
    # The filters sit outside every live region: a poll never resets a chosen select.
    region = chosen[chosen.index('data-live="board"') :]
    assert chosen.index('id="board-filters"') < chosen.index('data-live="board"')
    assert "<form" not in region

    hostile = await http.get("/console", params={"status": '"><script>x()</script>', "sort": "<b>"})
    assert hostile.status_code == 200 and "<script>x()" not in hostile.text
    assert 'data-sort="urgency"' in hostile.text

    page = (await http.get(f"/console/batches/{gate.id}")).text
    assert 'id="next"' in page and "for decision at qa_disposition" in page
    assert '<details id="audit">' in page
    await clocked.cancel()
    await harness.finish(clocked)


async def test_qa_sees_every_open_deviation_oldest_first(
    client: Client, people: People, harness: Harness
) -> None:
    first = await harness.start(
        FLAKY_BOOKING, faults=[Fault(kind="temperature_excursion", step="receipt")]
    )
    await harness.until_waiting(first, "disposition of DEV-1")
    second = await harness.start(
        FLAKY_BOOKING, faults=[Fault(kind="temperature_excursion", step="receipt")]
    )
    await harness.until_waiting(second, "disposition of DEV-1")

    qa = await client(user=people.make(Role.QA))
    queue = (await qa.get("/console/deviations")).text
    assert queue.index(f'data-batch="{first.id}"') < queue.index(f'data-batch="{second.id}"')
    row = _row(queue, first.id)
    assert "temperature_excursion" in row and "receipt" in row and "qa, qualified_person" in row
    assert f'href="/console/batches/{first.id}/decide?target=DEV-1"' in row
    operator = await client(user=people.make(Role.OPERATOR))
    seen = (await operator.get("/console/deviations")).text
    assert first.id in seen and "/decide?target=DEV-1" not in _row(seen, first.id)


async def test_capacity_shows_booked_and_free_lanes_per_site_and_day(
    client: Client, people: People, app: FastAPI
) -> None:
    start = datetime(2031, 5, 5, tzinfo=UTC)
    Reservations(app.state.ctx.ledger.engine).book(
        "MFG-EAST",
        4,
        SlotRequest(
            key="cap-view-1", batch_id="B-CAPVIEW001", earliest=start, latest=start, days=2
        ),
    )
    http = await client(user=people.make(Role.OPERATOR))
    page = (await http.get("/console/capacity", params={"start": "2031-05-04", "days": 4})).text
    table = page[page.index('id="capacity-MFG-EAST"') :].split("</table>")[0]
    days = re.findall(r'data-day="([0-9-]+)"', table)
    assert days == ["2031-05-04", "2031-05-05", "2031-05-06", "2031-05-07"]
    booked = table[table.index('data-day="2031-05-05"') :].split("</tr>")[0]
    assert '<td class="booked">1</td>' in booked and '<td class="free">3</td>' in booked
    assert 'href="/console/batches/B-CAPVIEW001"' in booked
    empty = table[table.index('data-day="2031-05-04"') :].split("</tr>")[0]
    assert '<td class="free">4</td>' in empty
    assert (await http.get("/console/capacity", params={"start": "soon"})).status_code == 422


@pytest.mark.usefixtures("berlin")
async def test_the_batch_page_review_and_temperature_print_in_the_deployment_zone(
    client: Client, people: People, harness: Harness
) -> None:
    handle = await harness.start(
        FLAKY_BOOKING, faults=[Fault(kind="temperature_excursion", step="receipt")]
    )
    await harness.until_waiting(handle, "disposition of DEV-1")
    http = await client(user=people.make(Role.QA))
    page = (await http.get(f"/console/batches/{handle.id}")).text
    review = page[page.index("Review by exception") :]
    assert re.search(r"receipt: courier -&gt; manufacturing at [0-9-]+ [0-9:]+ CES?T", review)
    temperature = page[page.index('id="temperature"') :]
    assert re.search(r"[0-9-]+ [0-9:]+ CES?T", temperature.split("</div>")[0])
    assert " UTC" not in temperature.split("</div>")[0]
    await handle.cancel()
    await harness.finish(handle)
