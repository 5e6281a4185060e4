"""Bounds on what enters a batch's history from outside (`workflows.bounds`).

Checked by the client before sending, and by the workflow's update validators for a caller
that reaches Temporal directly; the models recorded histories load into stay unbounded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from tests.harness import Harness, order
from tests.products import FLAKY_BOOKING
from workflows.bounds import MAX_ENTRIES, MAX_NAME, MAX_TEXT, TooLarge, check_bounds
from workflows.client import report_event
from workflows.model import (
    CustodyReport,
    DecisionAction,
    EventAck,
    ExternalEvent,
    LotRecall,
    ResultValue,
)


def _event(**fields: Any) -> ExternalEvent:
    base: dict[str, Any] = {
        "event_id": "e-1",
        "batch_id": "B-0123456789",
        "step": "receipt",
        "type": "custody",
        "reporter": "courier",
        "occurred_at": datetime.now(UTC),
    }
    return ExternalEvent(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"data": {"note": "x" * (MAX_TEXT + 1)}}, "data.note: String should have at most"),
        ({"data": {f"k{i}": "v" for i in range(MAX_ENTRIES + 1)}}, "data: Dictionary should"),
        ({"data": {"k" * (MAX_NAME + 1): "v"}}, f"data.{'k' * (MAX_NAME + 1)}.[key]"),
        ({"step": "s" * (MAX_NAME + 1)}, "step: String should have at most 80"),
        ({"lots": ["L"] * (MAX_ENTRIES + 1)}, "lots: List should have at most 50"),
        ({"results": {"cd19": ResultValue(value="v" * (MAX_TEXT + 1))}}, "results.cd19.value"),
        (
            {
                "custody": CustodyReport(
                    from_party="a",
                    to_party="b",
                    scanned_coi="c",
                    container_label="d",
                    location="x" * (MAX_TEXT + 1),
                )
            },
            "custody.location",
        ),
    ],
)
def test_an_event_over_a_bound_is_refused_naming_the_field(
    fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(TooLarge) as info:
        check_bounds(_event(**fields))
    assert named in str(info.value)


def test_events_within_the_bounds_pass() -> None:
    check_bounds(_event(data={f"k{i}": "v" * MAX_TEXT for i in range(MAX_ENTRIES)}))


def test_recalls_and_orders_are_bounded() -> None:
    recall = LotRecall(recall_id="R-0001", lot="LOT-1", reason="r" * 3000, requested_by="qa")
    with pytest.raises(TooLarge, match="reason"):
        check_bounds(recall)
    with pytest.raises(TooLarge, match="options"):
        check_bounds(order(options={f"o{i}": "c" for i in range(MAX_ENTRIES + 1)}))
    check_bounds(order())


async def test_the_workflow_refuses_an_oversized_report_before_history(
    harness: Harness,
) -> None:
    """A caller that reaches Temporal directly, past the client's check, is refused by the
    update validator: nothing of the report is recorded."""
    handle = await harness.start(FLAKY_BOOKING)
    rec = await harness.until_waiting(handle, "event custody at receipt")
    huge = _event(batch_id=handle.id, data={"note": "x" * 1_500_000})
    with pytest.raises(TooLarge, match=r"data\.note"):
        await report_event(harness.client, huge)  # the client's own check
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update("report_event", huge, result_type=EventAck)
    assert "data.note" in str(info.value.cause)
    after = await harness.record(handle)
    assert after.version == rec.version
    history = await handle.fetch_history()
    assert len(history.to_json()) < 1_000_000
    # A signed decision with an oversized reason is refused the same way.
    decision = await harness.sign(handle, "receipt", DecisionAction.APPROVE, reason="r" * 5000)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("decide", decision)
    assert "body.reason" in str(refused.value.cause)
    await handle.cancel()
    await harness.finish(handle)
