"""How the one update path (`workflows.client.send_update`) tells "not yet" from "no".

An update the server rejected because no worker handled it (seen after a worker restart: the
SDK dropped a redelivered update while the new worker caught up) was never seen by the batch:
it is offered again under a new id, so a report or a signed decision is not lost. A refusal by
the batch passes straight through, sent once.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from workflows import client as client_module
from workflows.client import send_update, unprocessed
from workflows.model import EventAck, ExternalEvent


def _rejected_unhandled() -> WorkflowUpdateFailedError:
    return WorkflowUpdateFailedError(
        ApplicationError(
            "Workflow Update is rejected because it wasn't processed by worker.",
            type="UnprocessedUpdate",
            non_retryable=True,
        )
    )


def _refused() -> WorkflowUpdateFailedError:
    return WorkflowUpdateFailedError(ApplicationError("step selection is not awaited"))


class _Handle:
    """A workflow handle whose first updates fail as scripted, then succeed."""

    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.ids: list[str] = []

    async def execute_update(self, update: str, arg: Any, *, id: str, **_: Any) -> EventAck:
        self.ids.append(id)
        if self.failures:
            raise self.failures.pop(0)
        return EventAck(event_id=arg.event_id, duplicate=False)


class _Client:
    def __init__(self, handle: _Handle) -> None:
        self.handle = handle

    def get_workflow_handle(self, batch_id: str) -> _Handle:
        return self.handle


def _event() -> ExternalEvent:
    return ExternalEvent.model_validate(
        {
            "event_id": "E-1",
            "batch_id": "B-RESEND1",
            "step": "selection",
            "type": "mes.operation_done",
            "reporter": "MFG-EAST/mes",
            "occurred_at": "2026-12-02T10:00:00Z",
        }
    )


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(_: float) -> None:
        return None

    monkeypatch.setattr(client_module.asyncio, "sleep", instant)


async def test_an_update_no_worker_handled_is_offered_again_under_a_new_id() -> None:
    handle = _Handle([_rejected_unhandled(), _rejected_unhandled()])
    ack = await send_update(
        _Client(handle),  # type: ignore[arg-type]
        "B-RESEND1",
        "report_event",
        _event(),
        EventAck,
    )
    assert ack.event_id == "E-1" and not ack.duplicate
    assert len(handle.ids) == 3 and len(set(handle.ids)) == 3, "each offer under its own id"


async def test_a_refusal_by_the_batch_is_final() -> None:
    handle = _Handle([_refused()])
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await send_update(
            _Client(handle),  # type: ignore[arg-type]
            "B-RESEND1",
            "report_event",
            _event(),
            EventAck,
        )
    assert not unprocessed(caught.value)
    assert len(handle.ids) == 1, "a refusal is never sent again"
    assert unprocessed(_rejected_unhandled())
