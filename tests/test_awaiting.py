"""What a batch awaits and its clocks, as typed state the engine computes once: the record's
`awaiting`, `clocks` and `stopped_clocks`, and the console's hold table read from them."""

from __future__ import annotations

from datetime import timedelta

from activities import Fault
from definitions import AUTOLOGOUS_CD19_CAR_T as CAR_T
from tests.harness import Harness
from vein2vein.service.batches import gates_awaiting
from vein2vein.service.views import hold_clocks
from workflows.language import Gate
from workflows.model import (
    AwaitKind,
    BatchRecord,
    ClockKind,
    DecisionAction,
    DeviationKind,
    Role,
    StepState,
)

HOLD = "fresh_apheresis_hold"  # apheresis -> receipt_at_site, at most 48 h


def _stopped(rec: BatchRecord) -> bool:
    return any(c.name == HOLD for c in rec.stopped_clocks)


def _console_hold(rec: BatchRecord) -> tuple[str, str]:
    row = next(h for h in hold_clocks(CAR_T, rec) if h.name == HOLD)
    return row.state, row.css


async def test_record_publishes_awaited_report_running_clocks_met_hold_and_gate(
    harness: Harness,
) -> None:
    handle = await harness.start(CAR_T)
    rec = await harness.until_waiting(handle, "event custody at receipt_at_site")
    report = next(a for a in rec.awaiting if a.target == "receipt_at_site")
    assert (report.kind, report.event, report.roles) == (AwaitKind.EVENT, "custody", ())
    assert report.deadline is not None and report.since <= report.deadline
    running = {c.name: c for c in rec.clocks}
    hold = running[HOLD]
    assert hold.kind == ClockKind.HOLD and hold.started is not None
    assert hold.limit == hold.started + timedelta(hours=48)
    assert hold.remaining is not None and timedelta(0) < hold.remaining <= timedelta(hours=48)
    deadline = running["receipt_at_site"]
    assert deadline.kind == ClockKind.DEADLINE and deadline.limit == report.deadline
    assert deadline.remaining is not None and deadline.remaining > timedelta(0)
    assert _console_hold(rec)[0].startswith("running: ") and _console_hold(rec)[0].endswith(" left")

    rec = await harness.advance_until(handle, _stopped, what="hold stopped")
    met = next(c for c in rec.stopped_clocks if c.name == HOLD)
    receipt = next(s for s in rec.steps if s.step == "receipt_at_site")
    assert receipt.state == StepState.DONE and met.ended == receipt.ended_at
    assert not met.breached and met.started == hold.started and met.limit == hold.limit
    assert HOLD not in {c.name for c in rec.clocks}
    assert _console_hold(rec)[1] == "ok" and _console_hold(rec)[0].startswith("met in ")

    rec = await harness.until_waiting(handle, "decision at qa_disposition", step=timedelta(hours=6))
    gate = next(a for a in rec.awaiting if a.kind == AwaitKind.DECISION)
    step = CAR_T.step("qa_disposition")
    assert isinstance(step, Gate)
    assert (gate.target, gate.roles) == ("qa_disposition", step.roles)
    assert set(gate.roles) == {Role.QA, Role.QUALIFIED_PERSON}
    assert gate.since <= await harness.env.get_current_time()
    assert gates_awaiting(rec) == {"qa_disposition"}
    await handle.cancel()
    await harness.finish(handle)


async def test_hold_whose_end_step_qa_let_continue_is_met_in_engine_and_console(
    harness: Harness,
) -> None:
    handle = await harness.start(
        CAR_T, faults=[Fault(kind="temperature_excursion", step="receipt_at_site")]
    )
    rec = await harness.until_waiting(handle, "disposition of DEV-")
    dev = next(d for d in rec.deviations if d.is_open)
    assert dev.kind == DeviationKind.TEMPERATURE_EXCURSION and dev.step == "receipt_at_site"
    disposal = next(a for a in rec.awaiting if a.kind == AwaitKind.DISPOSITION)
    assert disposal.target == dev.deviation_id and Role.QA in disposal.roles
    assert disposal.since == dev.opened_at
    assert _console_hold(rec)[0].startswith("running: ")
    assert not gates_awaiting(rec)

    await harness.decide(handle, dev.deviation_id, DecisionAction.CONTINUE, reason="in range")
    rec = await harness.advance_until(handle, _stopped, what="hold stopped")
    met = next(c for c in rec.stopped_clocks if c.name == HOLD)
    receipt = next(s for s in rec.steps if s.step == "receipt_at_site")
    assert receipt.state == StepState.FAILED, "the end step failed and QA let it continue"
    assert not met.breached and met.ended is not None and met.ended <= met.limit
    state, css = _console_hold(rec)
    assert css == "ok" and state.startswith("met in "), state
    # Withdraw at a quiet moment (a gate), not while an activity is in flight.
    await harness.until_waiting(handle, "decision at qa_disposition", step=timedelta(hours=6))
    await handle.cancel()
    await harness.finish(handle)
