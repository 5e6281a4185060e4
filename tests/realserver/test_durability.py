"""Crash and restart survival on the real embedded Temporal server (not the time-skipping one).

The worker is `worker.py` in its own process; the server is `temporal server start-dev` on a
SQLite file, started by the test or (laptop mode) embedded by the worker. Both are killed with
SIGKILL at awkward moments, and every batch must still end as if nothing had happened: each
external side effect once per idempotency key (counted by the simulated world's store), each
report received once, every audit event in the ledger once and its hash chain intact,
decisions accepted after the restarts. Run them alone with `pytest -m realserver`.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import PendingActivityState

from tests.realserver.conftest import Cluster, alive, eventually
from tests.realserver.products import DEADLINE, HOLD, RELAY, TIMERS
from vein2vein.embedded import listening
from workflows import client as client_module
from workflows.client import decide as submit
from workflows.client import new_batch_id
from workflows.model import (
    AwaitKind,
    BatchOutcome,
    BatchRecord,
    BatchStatus,
    DecisionAction,
    DeviationKind,
    StepState,
)

pytestmark = pytest.mark.realserver

#: The outside-world calls one relay batch makes, as idempotency-key suffixes after the id.
RELAY_CALLS = (
    "book_slot:book_slot:i1r0",
    "selection:start_operation:i1r0",
    "receipt:book_courier:i1r0",
    "expansion:start_operation:i1r0",
)
RELAY_REPORTS = ["expansion", "receipt", "selection"]


def _waiting_for_report(rec: BatchRecord) -> bool:
    return any(a.kind == AwaitKind.EVENT for a in rec.awaiting)


def _asked_and_waiting(rec: BatchRecord, effects: dict[str, int]) -> bool:
    """Waiting for a report whose request the outside world has already received."""
    steps = [a.target for a in rec.awaiting if a.kind == AwaitKind.EVENT]
    return any(
        f"{rec.batch_id}:{suffix}" in effects
        for step in steps
        for suffix in RELAY_CALLS
        if suffix.startswith(f"{step}:")
    )


def _in_book_slot(rec: BatchRecord) -> bool:
    return any(s.step == "book_slot" and s.state == StepState.ACTIVE for s in rec.steps)


async def _approve_and_finish(cluster: Cluster, batch_id: str) -> BatchRecord:
    await cluster.until_waiting(batch_id, "decision at approve")
    receipt = await cluster.decide(batch_id, "approve", DecisionAction.APPROVE)
    assert receipt.target == "approve"
    outcome = BatchOutcome.model_validate(await cluster.outcome(batch_id))
    assert outcome.status == BatchStatus.COMPLETED, outcome
    return await cluster.record(batch_id)


def _assert_relay_record_clean(rec: BatchRecord) -> None:
    """One custody entry, one result, each report received once, each step done once."""
    assert rec.status == BatchStatus.COMPLETED
    assert not rec.deviations, rec.deviations
    assert len(rec.custody) == 1 and rec.custody[0].identity_verified
    assert list(rec.results) == ["total_viable_cells"]
    received = sorted(e.subject for e in rec.audit if e.action == "event.received")
    assert received == RELAY_REPORTS, f"reports received: {received}"
    steps = [s.step for s in rec.steps]
    assert len(steps) == len(set(steps)), f"a step ran twice: {steps}"
    assert all(s.state == StepState.DONE for s in rec.steps)


def _assert_ledger_complete(cluster: Cluster, records: list[BatchRecord]) -> None:
    """Every batch's audit trail is in the ledger, gap-free, once, and its chain verifies."""
    with cluster.ledger() as ledger:
        report = ledger.verify()
        assert report.ok, report.breaks
        for rec in records:
            entries = ledger.entries(rec.batch_id)
            assert [e.seq for e in entries] == list(range(1, len(rec.audit) + 1))
            assert entries == rec.audit


@pytest.mark.requirement("A11-16")
async def test_worker_killed_mid_activity_and_mid_wait(cluster: Cluster) -> None:
    """(a) SIGKILL the worker while some batches are inside an activity whose side effect has
    happened and others wait for reports; a new worker finishes them all, each effect once."""
    lingering = [new_batch_id() for _ in range(2)]
    cluster.start_worker(
        "tests.realserver.slow_worker",
        RS_SLOW_ACTIVITY="book_slot",
        RS_SLOW_BATCHES=",".join(lingering),
        RS_SLOW_SECONDS="120",
    )
    await cluster.worker_ready()
    waiting = [await cluster.start(RELAY) for _ in range(3)]
    for batch_id in lingering:
        await cluster.start(RELAY, batch_id=batch_id)
    world = cluster.world()

    # Only book_slot may be in flight at the kill: a lost ledger projection would just add its
    # timeout to the test, and a lost report request is what the lingering batches test.
    async def moment() -> tuple[list[bool], list[bool]]:
        effects = world.effects()
        mid_wait = [
            _asked_and_waiting(await cluster.record(b), effects) and not await cluster.pending(b)
            for b in waiting
        ]
        mid_activity = [
            world.calls(f"{b}:{RELAY_CALLS[0]}") == 1
            and _in_book_slot(await cluster.record(b))
            and await cluster.pending(b) == {"book_slot"}
            for b in lingering
        ]
        return mid_wait, mid_activity

    await eventually(
        moment,
        lambda m: all(m[0]) and all(m[1]),
        what="some batches waiting for reports while others are inside book_slot",
    )
    assert cluster.kill_worker(signal.SIGKILL) == -signal.SIGKILL

    # The server agrees: the lingering batches' book_slot is a started activity, now orphaned.
    for batch_id in lingering:
        desc = await cluster.handle(batch_id).describe()
        pending = {p.activity_type.name: p for p in desc.raw_description.pending_activities}
        assert "book_slot" in pending, f"{batch_id}: pending {list(pending)}"
        assert pending["book_slot"].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED

    cluster.start_worker()
    await cluster.worker_ready()
    batches = waiting + lingering
    records = [await _approve_and_finish(cluster, b) for b in batches]

    for rec in records:
        _assert_relay_record_clean(rec)
    calls, effects = world.all_calls(), world.effects()
    expected = {f"{b}:{suffix}" for b in batches for suffix in RELAY_CALLS}
    assert set(effects) == expected, "every outside-world call had exactly its one effect"
    assert set(calls) == expected
    for batch_id in lingering:
        key = f"{batch_id}:{RELAY_CALLS[0]}"
        assert calls[key] >= 2, f"{key}: the new worker never re-ran the orphaned call"
    _assert_ledger_complete(cluster, records)


@pytest.mark.requirement("A11-16", "PROD-HOLD")
async def test_server_killed_timers_fire_after_restart(cluster: Cluster) -> None:
    """(b) SIGKILL the server while batches wait; a hold and a deadline expire while it is
    down; after the restart on the same SQLite file the timers fire, the waiting batches go
    on and signed decisions are accepted, all without restarting the worker."""
    cluster.start_worker()
    await cluster.worker_ready()
    timed = await cluster.start(TIMERS)
    relay = await cluster.start(RELAY)
    await cluster.until_quiet(relay, "event ")
    await cluster.until_quiet(timed, "event mes.operation_done at dispatch")
    # The hold starts when the test reports the dispatch, so however slowly the batches got
    # here, the kill follows it by one workflow task.
    await cluster.report(timed, "dispatch", "mes.operation_done")
    armed = await cluster.until_quiet(timed, "event site.arrived at arrival")
    arrival = next(s for s in armed.steps if s.step == "arrival")
    assert armed.next_deadline is not None and not armed.deviations

    cluster.kill_server()
    killed_at = datetime.now(UTC)
    dispatched = next(s for s in armed.steps if s.step == "dispatch")
    assert dispatched.ended_at is not None and killed_at < dispatched.ended_at + HOLD, (
        f"the hold expired before the kill ({killed_at - dispatched.ended_at} after dispatch)"
    )
    # Stay down until both the hold and the arrival deadline have passed.
    expires = (arrival.started_at + DEADLINE - datetime.now(UTC)).total_seconds()
    await asyncio.sleep(max(expires, 0) + 0.5)
    cluster.start_server()

    rec = await cluster.until(
        timed,
        lambda r: (
            {d.kind for d in r.deviations}
            >= {DeviationKind.HOLD_BREACHED, DeviationKind.DEADLINE_MISSED}
        ),
        "hold breached and deadline missed",
    )
    assert cluster.worker is not None and cluster.worker.poll() is None, "the worker died"
    assert rec.status == BatchStatus.QUARANTINED
    assert all(d.opened_at >= killed_at for d in rec.deviations), "fired after the restart"
    breach = next(d for d in rec.deviations if d.kind == DeviationKind.HOLD_BREACHED)
    missed = next(d for d in rec.deviations if d.kind == DeviationKind.DEADLINE_MISSED)

    await cluster.decide(timed, breach.deviation_id, DecisionAction.CONTINUE, reason="assessed")
    await cluster.decide(timed, missed.deviation_id, DecisionAction.RETRY, reason="chased")
    await cluster.until_waiting(timed, "event site.arrived at arrival")
    await cluster.report(timed, "arrival", "site.arrived")
    timed_rec = await _approve_and_finish(cluster, timed)
    relay_rec = await _approve_and_finish(cluster, relay)

    assert [d.disposition for d in timed_rec.deviations if d.kind == breach.kind] == [
        DecisionAction.CONTINUE
    ]
    _assert_relay_record_clean(relay_rec)
    _assert_ledger_complete(cluster, [timed_rec, relay_rec])


async def test_gate_survives_restart_of_server_and_worker(cluster: Cluster) -> None:
    """(c) A batch waiting for a signed decision outlives both processes, then completes."""
    cluster.start_worker()
    await cluster.worker_ready()
    batch_id = await cluster.start(RELAY)
    before = await cluster.until_quiet(batch_id, "decision at approve")
    signed = cluster.sign(before, "approve", DecisionAction.APPROVE)

    started = time.monotonic()
    assert cluster.kill_worker(signal.SIGTERM) == 0, "the worker stops cleanly on SIGTERM"
    cluster.kill_server()
    cluster.start_server()
    cluster.start_worker()
    await cluster.worker_ready()
    after = await cluster.until_waiting(batch_id, "decision at approve")
    restart_s = time.monotonic() - started

    assert after.record_hash == before.record_hash, "the record is the version that was signed"
    assert after.awaiting == before.awaiting
    receipt = await submit(await cluster.client(), batch_id, signed)
    assert receipt.action == DecisionAction.APPROVE
    outcome = BatchOutcome.model_validate(await cluster.outcome(batch_id))
    assert outcome.status == BatchStatus.COMPLETED
    rec = await cluster.record(batch_id)
    _assert_relay_record_clean(rec)
    assert [s.signature_id for s in rec.signatures] == [signed.body.signature_id]
    _assert_ledger_complete(cluster, [rec])
    print(f"restart of server and worker took {restart_s:.1f}s")


async def test_embedded_server_dies_with_its_worker(bare_cluster: Cluster) -> None:
    """(d) Laptop mode: the worker runs its own dev server. Killed with SIGKILL it takes the
    server with it (no orphan holding the port), and the next worker resumes on the file."""
    cluster = bare_cluster
    cluster.start_worker(embedded=True)
    await cluster.worker_ready()
    batch_id = await cluster.start(RELAY)

    async def mid_wait() -> bool:  # asked, nothing in flight: only the report is awaited
        rec = await cluster.record(batch_id)
        return _asked_and_waiting(rec, cluster.world().effects()) and not await cluster.pending(
            batch_id
        )

    await eventually(mid_wait, bool, what="waiting for a report")
    servers = cluster.worker_children()
    assert len(servers) == 1, f"one embedded dev server, found {servers}"

    assert cluster.kill_worker(signal.SIGKILL) == -signal.SIGKILL

    async def gone() -> bool:
        return not any(alive(pid) for pid in servers) and not listening("127.0.0.1", cluster.port)

    await eventually(gone, bool, what="the embedded server ends with its worker", timeout=15)
    cluster.start_worker(embedded=True)
    await cluster.worker_ready()
    rec = await _approve_and_finish(cluster, batch_id)
    _assert_relay_record_clean(rec)
    _assert_ledger_complete(cluster, [rec])


async def test_a_decision_sent_while_no_worker_runs_is_waited_out(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(d) An update whose RPC times out (no worker to take it, as on a loaded machine) is
    sent again under the same update id until a worker takes it: accepted once, never a
    refusal the caller has to untangle."""
    monkeypatch.setattr(client_module, "UPDATE_RPC_TIMEOUT", timedelta(seconds=2))
    cluster.start_worker()
    await cluster.worker_ready()
    batch_id = await cluster.start(RELAY)
    before = await cluster.until_quiet(batch_id, "decision at approve")
    signed = cluster.sign(before, "approve", DecisionAction.APPROVE)
    assert cluster.kill_worker(signal.SIGTERM) == 0

    sending = asyncio.create_task(submit(await cluster.client(), batch_id, signed))
    await asyncio.sleep(5)  # at least two RPC timeouts pass with nobody to take the update
    assert not sending.done(), "the update gave up while the worker was away"
    cluster.start_worker()
    receipt = await asyncio.wait_for(sending, 120)
    assert receipt.action == DecisionAction.APPROVE
    outcome = BatchOutcome.model_validate(await cluster.outcome(batch_id))
    assert outcome.status == BatchStatus.COMPLETED
    rec = await cluster.record(batch_id)
    assert [s.signature_id for s in rec.signatures] == [signed.body.signature_id]
    assert sum(e.action == "decision.approve" for e in rec.audit) == 1
