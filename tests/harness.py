"""Driving whole batches in tests: start, advance simulated time, sign and decide."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities import Fault, SimulatedWorld
from records import Ledger
from workflows.client import decide as submit
from workflows.client import get_record, new_batch_id, start_batch
from workflows.definition import CompiledDefinition
from workflows.model import (
    BatchRecord,
    DecisionAction,
    DecisionBody,
    DecisionReceipt,
    Deviation,
    Order,
    Role,
    Severity,
    SignedDecision,
)
from workflows.signatures import SigningKey

_ids = itertools.count(1)
#: Real time one skip of simulated time may take. Firing a module's timers takes seconds even
#: on a loaded machine; a skip that takes longer is waiting in real time for a held lock.
SKIP_BOUND = timedelta(seconds=120)


def order(**overrides: Any) -> Order:
    """A valid order on the default simulated sites (the classic parties' unless `sites`
    is given)."""
    n = next(_ids)
    fields: dict[str, Any] = {
        "order_id": f"ORD-{n:05d}",
        "patient_pseudonym": f"PSN-{n:06d}",
        "sites": {
            "treatment_centre": "TC-NORTH",
            "manufacturing_site": "MFG-EAST",
            "courier": "COURIER-CRYO",
        },
    }
    for party in ("treatment_centre", "manufacturing_site", "courier"):
        if party in overrides:
            fields["sites"] = {**fields["sites"], party: overrides.pop(party)}
    fields.update(overrides)
    return Order(**fields)


def awaits(rec: BatchRecord, needle: str) -> bool:
    """Whether the label of something `rec` awaits (`Awaiting.label()`, rendered by the model
    from the typed `awaiting`, never parsed) contains `needle`."""
    return any(needle in a.label() for a in rec.awaiting)


class Harness:
    """One test's handle on the shared environment, worker, simulated world and ledger."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        world: SimulatedWorld,
        ledger: Ledger,
        key: SigningKey,
    ) -> None:
        self.env = env
        self.world = world
        self.ledger = ledger
        self.key = key
        self.started: list[WorkflowHandle[Any, Any]] = []
        #: Why time skipping stopped on this server, once a skip found it stuck.
        self.stuck: str | None = None

    @property
    def client(self) -> Client:
        """The environment's client (pydantic data converter)."""
        return self.env.client

    async def start(
        self,
        definition: CompiledDefinition,
        *,
        faults: list[Fault] | None = None,
        **order_fields: Any,
    ) -> WorkflowHandle[Any, Any]:
        """Start a batch; `faults` are injected for this batch only."""
        batch_id = new_batch_id()
        for f in faults or []:
            self.world.add_fault(f.model_copy(update={"batch_id": batch_id}))
        handle = await start_batch(
            self.client,
            definition,
            order(**order_fields),
            batch_id=batch_id,
        )
        self.started.append(handle)
        return handle

    @contextlib.contextmanager
    def simulating(
        self, result: str, *, nominal: float | str, failing: float | str, unit: str = ""
    ) -> Iterator[None]:
        """The shared simulated world reports these values for `result` inside the block
        only, so one test's values never leak into another's."""
        saved = self.world.values.get(result)
        self.world.simulate(result, nominal=nominal, failing=failing, unit=unit)
        try:
            yield
        finally:
            if saved is None:
                self.world.values.pop(result, None)
            else:
                self.world.values[result] = saved

    async def stop_leftovers(self) -> None:
        """Withdraw the batches a test left running: every later skip of simulated time would
        otherwise wake their timers and slow every later test. Withdrawn, not terminated:
        after terminations the time-skipping server stopped skipping time (sleeps hung). A
        batch with an activity in flight is left alone."""
        from temporalio.client import WorkflowExecutionStatus
        from temporalio.service import RPCError

        started, self.started = self.started, []
        for first_run in started:
            # The latest run: a follow-up continues as new.
            handle = self.client.get_workflow_handle(first_run.id)
            try:
                desc = await handle.describe()
                idle = not desc.raw_description.pending_activities
                if desc.status == WorkflowExecutionStatus.RUNNING and idle:
                    await handle.cancel()
            except RPCError:
                continue

    async def record(self, handle: WorkflowHandle[Any, Any]) -> BatchRecord:
        """The batch record now. A query waits for the workflow's current task; on a loaded
        machine that can outlast an RPC deadline, so a timed-out query is asked again (a
        query changes nothing) with a generous deadline, never the default one."""
        import asyncio

        from temporalio.service import RPCError

        transient = ("Timeout expired", "deadline exceeded", "transport error")
        for attempt in range(6):
            try:
                return await get_record(self.client, handle.id, rpc_timeout=timedelta(seconds=60))
            except RPCError as err:
                if not any(t in str(err) for t in transient) or attempt == 5:
                    raise
                await asyncio.sleep(1 + attempt)
        raise AssertionError("unreachable")

    async def skip(self, step: timedelta) -> None:
        """Skip simulated time. Under load the test server's sleep RPC can time out or have
        its HTTP/2 stream reset while the server fires a backlog of timers; callers re-check
        their condition after every skip, so retrying a skip is safe.

        A skip that does not come back within `SKIP_BOUND` of real time means something holds
        the server's time-skipping lock (the server then waits the whole step in real time):
        the test fails at once naming the batches whose workflow task is failing, and every
        later skip on this server fails at once too, instead of each test waiting out its
        limit."""
        import asyncio

        from temporalio.service import RPCError

        if self.stuck is not None:
            raise AssertionError(f"time skipping is stuck on this module's server: {self.stuck}")
        transient = ("Timeout expired", "h2 protocol error", "transport error", "Connection reset")
        for attempt in range(5):
            try:
                await asyncio.wait_for(self.env.sleep(step), SKIP_BOUND.total_seconds())
                return
            except TimeoutError:
                self.stuck = await self._stuck_report(step)
                raise AssertionError(f"time skipping is stuck: {self.stuck}") from None
            except RPCError as err:
                if not any(t in str(err) for t in transient) or attempt == 4:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))

    async def _stuck_report(self, step: timedelta) -> str:
        """What may hold the time-skipping lock: batches of this module with a workflow task
        failing or attempted again, or with activities in flight."""
        from temporalio.client import WorkflowExecutionStatus

        found = []
        for handle in self.started:
            try:
                desc = await handle.describe()
            except Exception as err:  # a report, best effort
                found.append(f"{handle.id}: describe failed: {err}")
                continue
            raw = desc.raw_description
            task = raw.pending_workflow_task
            acts = [f"{a.activity_type.name}#{a.attempt}" for a in raw.pending_activities]
            if desc.status == WorkflowExecutionStatus.RUNNING and (task.attempt > 1 or acts):
                found.append(f"{handle.id}: workflow task attempt {task.attempt}, calls {acts}")
        return (
            f"a {step} skip did not return within {SKIP_BOUND} of real time; "
            f"suspects: {found or 'none of the batches this harness started'}"
        )

    async def advance_until(
        self,
        handle: WorkflowHandle[Any, Any],
        pred: Callable[[BatchRecord], bool],
        *,
        step: timedelta = timedelta(hours=1),
        limit: timedelta = timedelta(days=60),
        what: str = "condition",
    ) -> BatchRecord:
        """Skip simulated time in `step`s until the record satisfies `pred`."""
        elapsed = timedelta(0)
        while True:
            rec = await self.record(handle)
            if pred(rec):
                return rec
            if elapsed > limit:
                tail = [f"{e.at:%Y-%m-%d} {e.action} {e.subject}" for e in rec.audit[-5:]]
                raise AssertionError(
                    f"{what} not reached after {limit}: {rec.status} "
                    f"{[a.label() for a in rec.awaiting]} {tail}"
                )
            await self.skip(step)
            elapsed += step

    async def advance_all(
        self,
        handles: list[WorkflowHandle[Any, Any]],
        pred: Callable[[BatchRecord], bool],
        *,
        step: timedelta = timedelta(minutes=10),
        limit: timedelta = timedelta(days=30),
    ) -> list[BatchRecord]:
        """Like `advance_until`, for many batches with one clock (one sleeper at a time)."""
        elapsed = timedelta(0)
        while True:
            recs = [await self.record(h) for h in handles]
            if all(pred(r) for r in recs):
                return recs
            if elapsed > limit:
                raise AssertionError(f"not all batches reached the condition after {limit}")
            await self.skip(step)
            elapsed += step

    async def settle(
        self,
        handles: list[WorkflowHandle[Any, Any]],
        pred: Callable[[BatchRecord], bool],
        *,
        seconds: float = 60,
    ) -> list[BatchRecord]:
        """Wait in real time (no time skipping) for work that needs no timer, e.g. compensation."""
        import asyncio

        for _ in range(int(seconds / 0.2)):
            recs = [await self.record(h) for h in handles]
            if all(pred(r) for r in recs):
                return recs
            await asyncio.sleep(0.2)
        raise AssertionError(f"batches did not settle within {seconds}s")

    async def until_waiting(
        self, handle: WorkflowHandle[Any, Any], needle: str, **kw: Any
    ) -> BatchRecord:
        """Advance until the label of something the batch awaits (`Awaiting.label()`, rendered
        by the model from its typed `awaiting`) contains `needle`."""
        return await self.advance_until(handle, lambda r: awaits(r, needle), what=needle, **kw)

    async def until_retrying(
        self, handle: WorkflowHandle[Any, Any], activity: str, *, seconds: float = 60
    ) -> None:
        """Wait (in real time) until Temporal is retrying `activity` for the batch."""
        import asyncio

        for _ in range(int(seconds * 10)):
            pending = (await handle.describe()).raw_description.pending_activities
            if any(p.activity_type.name == activity and p.attempt >= 2 for p in pending):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{activity} was not retried within {seconds}s")

    async def sign(
        self,
        handle: WorkflowHandle[Any, Any],
        target: str,
        action: DecisionAction,
        *,
        role: Role = Role.QA,
        signer_id: str = "qa-ada",
        printed_name: str = "Ada Quality",
        reason: str = "reviewed",
        meaning: str = "approval",
        signed_at: datetime | None = None,
        record_hash: str | None = None,
        batch_id: str | None = None,
        key: SigningKey | None = None,
        severity: Severity | None = None,
        capa: str | None = None,
        conditions: str | None = None,
        rework_to: str | None = None,
    ) -> SignedDecision:
        """A decision signed by the deployment key over the current record (overridable)."""
        rec = await self.record(handle)
        body = DecisionBody(
            signature_id=f"SIG-{next(_ids):08d}",
            batch_id=batch_id or handle.id,
            target=target,
            action=action,
            signer_id=signer_id,
            printed_name=printed_name,
            role=role,
            signed_at=signed_at or await self.env.get_current_time(),
            meaning=meaning,
            reason=reason,
            record_hash=record_hash or rec.record_hash,
            key_id=(key or self.key).key_id,
            severity=severity,
            capa=capa,
            conditions=conditions,
            rework_to=rework_to,
        )
        return (key or self.key).sign(body)

    async def report_example(
        self,
        definition: CompiledDefinition,
        handle: WorkflowHandle[Any, Any],
        step: str,
        *,
        reporter: str = "lims",
        event_id: str | None = None,
        **values: float,
    ) -> None:
        """Report the product's example event for `step` (`vein2vein definitions
        example-event`) for this batch, now; `values` replace its results' values and
        `event_id` its id (a step reported again needs a new one)."""
        from vein2vein.examples import example_event
        from workflows.client import report_event
        from workflows.model import ExternalEvent

        rec = await self.record(handle)
        body = example_event(definition, step, batch_id=handle.id, coi=rec.coi)
        body["occurred_at"] = (await self.env.get_current_time()).isoformat()
        if event_id is not None:
            body["event_id"] = event_id
        for name, value in values.items():
            body["results"][name]["value"] = value
        await report_event(
            self.client, ExternalEvent.model_validate({**body, "reporter": reporter})
        )

    async def decide(
        self, handle: WorkflowHandle[Any, Any], target: str, action: DecisionAction, **kw: Any
    ) -> DecisionReceipt:
        """Sign and submit a decision."""
        return await submit(self.client, handle.id, await self.sign(handle, target, action, **kw))

    async def with_exhausted_booking(self) -> tuple[WorkflowHandle[Any, Any], Deviation]:
        """A batch held by a technical deviation: its slot booking failed every attempt."""
        from activities import Fault
        from tests.products import FLAKY_BOOKING

        handle = await self.start(
            FLAKY_BOOKING, faults=[Fault(kind="flaky", step="book_slot", times=3)]
        )
        rec = await self.advance_until(
            handle, lambda r: bool(r.deviations), step=timedelta(minutes=1), what="a deviation"
        )
        return handle, rec.deviations[0]

    async def with_oos_dose(self) -> tuple[WorkflowHandle[Any, Any], Deviation]:
        """A batch quarantined by an out-of-specification computed dose (a 260 kg patient's
        dose over the maximum of `tests.products.RELEASE_JUDGED`)."""
        from tests.products import RELEASE_JUDGED

        handle = await self.start(RELEASE_JUDGED, weight_kg=260)
        rec = await self.advance_until(
            handle, lambda r: bool(r.open_deviations()), what="an OOS dose"
        )
        return handle, rec.open_deviations()[0]

    async def refusal(
        self,
        handle: WorkflowHandle[Any, Any],
        target: str,
        action: DecisionAction,
        **kw: Any,
    ) -> str:
        """Why the batch refuses this signed decision (`sign`'s keywords); fails if it accepts."""
        from temporalio.client import WorkflowUpdateFailedError

        try:
            await self.decide(handle, target, action, **kw)
        except WorkflowUpdateFailedError as err:
            return str(err.cause)
        raise AssertionError(f"{action} on {target} was accepted")

    async def request_exceptional_release(
        self, handle: WorkflowHandle[Any, Any], deviation_id: str, reason: str = "no alternative"
    ) -> DecisionReceipt:
        """The treating physician's signed request, without which QA may not release the
        deviation exceptionally (`workflows.exceptional`)."""
        from workflows.exceptional import REQUEST_MEANING

        return await self.decide(
            handle,
            deviation_id,
            DecisionAction.EXCEPTIONAL_RELEASE,
            role=Role.PHYSICIAN,
            signer_id="dr-hale",
            printed_name="Dr Hale",
            meaning=REQUEST_MEANING,
            reason=reason,
        )

    async def release(self, handle: WorkflowHandle[Any, Any]) -> BatchRecord:
        """Advance to the QA disposition and approve it."""
        await self.until_waiting(handle, "decision at qa_disposition")
        await self.decide(handle, "qa_disposition", DecisionAction.APPROVE, role=Role.QA)
        return await self.advance_until(handle, lambda r: r.released, what="released")

    async def finish(self, handle: WorkflowHandle[Any, Any]) -> BatchRecord:
        """Advance until the batch has ended and its workflow closed; return its final record."""
        await self.advance_until(handle, lambda r: r.finished, what="end")
        # Wait in real time for the close (record.closed reaches the ledger): awaiting the
        # result would let the test server skip time while entity workflows keep running.
        import asyncio

        from temporalio.client import WorkflowExecutionStatus

        for _ in range(300):
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                break
            await asyncio.sleep(0.1)
        return await self.record(handle)
