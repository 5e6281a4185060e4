"""A running batch's state, and the one place that decides what survives continue-as-new."""

from __future__ import annotations

import asyncio
from datetime import datetime

from workflows.definition import CompiledDefinition
from workflows.language import Call
from workflows.model import (
    BatchRecord,
    BatchStart,
    ExternalEvent,
    Resume,
    SignedDecision,
)


class BatchState:
    """Everything one run of a batch holds besides its record.

    The record (`rec`) is what readers see; the rest is the engine's bookkeeping. `resume()`
    and `restored()` are the only code that moves state across continue-as-new.
    """

    def __init__(self, start: BatchStart, defn: CompiledDefinition, rec: BatchRecord) -> None:
        self.start = start
        self.defn = defn
        self.rec = rec
        #: Steps waiting for a report, by step name: the event type expected.
        self.expecting: dict[str, str] = {}
        #: Reports received and not yet consumed, by step name.
        self.events: dict[str, ExternalEvent] = {}
        #: Event and recall ids already applied (idempotency).
        self.seen_events: set[str] = set()
        #: Gates awaiting a decision (None) or decided (the signed decision).
        self.gates: dict[str, SignedDecision | None] = {}
        #: Dispositions of deviations, by deviation id.
        self.dispositions: dict[str, SignedDecision] = {}
        self.used_signatures: set[str] = set()
        #: What undoes each started step, in the order the steps started.
        self.compensations: list[tuple[str, Call]] = []
        #: Set when a person abandons or withdraws: every wait unwinds.
        self.abandon: str | None = None
        #: Running deadlines (waits, holds, follow-up visits), by step name.
        self.deadlines: dict[str, datetime] = {}
        #: Shelf lives of material the batch holds, by the step that gave it (`expiry`):
        #: (when the batch received it, when it expires).
        self.expiries: dict[str, tuple[datetime, datetime]] = {}
        #: step -> (earliest start, the interval that sets it)
        self.not_before: dict[str, tuple[datetime, str]] = {}
        self.done_at: dict[str, datetime] = {}
        #: Who performed each step (may not approve a gate requiring it).
        self.performers: dict[str, str] = {}
        self.person_retries: dict[str, int] = {}
        self.iterations: dict[str, int] = {}
        #: Specified results each step recorded since it started, not judged yet.
        self.fresh: dict[str, list[str]] = {}
        #: Audit events confirmed in the ledger, and those handed to a carrier so far.
        self.projected = 0
        self.carried = 0
        #: Whether the batch's calls carry its audit events (`projection.CARRY_PATCH`).
        self.carry = False
        #: Whether a wait whose condition holds returns without yielding (`calls.PROMPT_PATCH`).
        self.prompt = False
        #: Whether events recorded while a call is in flight wait for it a while
        #: (`projection.AWAIT_CALL_PATCH`), and how many of the batch's step calls are.
        self.await_calls = False
        self.calls_in_flight = 0
        self.closed = False
        #: When each thing awaited (by target) and each clock (by name) began, as first seen.
        self.since: dict[str, datetime] = {}
        self.clock_started: dict[str, datetime] = {}
        #: Search attributes as last published, and whether a change waits for `search.flush`.
        self.search: dict[str, str] = {}
        self.search_due = False
        #: What `metering` last counted: (status, stage), the clocks it saw and those it
        #: counted near breach. Bookkeeping for metrics only; never read by the process.
        self.metered: tuple[str, str] | None = None
        self.metered_clocks: dict[str, datetime] = {}
        self.near_breach: set[str] = set()
        self.watchers: list[asyncio.Task[None]] = []
        #: Reworks in this run, and the steps the last one sent back to be done again
        #: (`workflows.engine.rework`): hold clocks those steps started stop.
        self.reworks = 0
        self.redone: frozenset[str] = frozenset()
        #: (stage index, step index) of the top-level step running now.
        self.position: tuple[int, int] = (0, 0)
        self.resume_visit = 1
        self.resume_origin: datetime | None = None

    @classmethod
    def restored(cls, start: BatchStart, defn: CompiledDefinition, r: Resume) -> BatchState:
        """The state a batch carried into this run when it continued as new."""
        state = cls(start, defn, r.record)
        state.position = (r.stage_index, r.step_index)
        state.resume_visit, state.resume_origin = r.visit, r.origin
        state.compensations = [(s, Call.model_validate(c)) for s, c in r.compensations]
        state.done_at = dict(r.done_at)
        state.performers = dict(r.performers)
        state.used_signatures = set(r.used_signatures)
        state.seen_events = set(r.seen_events)
        state.person_retries = dict(r.person_retries)
        state.projected = state.carried = r.projected
        # The previous run counted the batch where it stands (`metering`).
        state.metered = (r.record.status.value, r.record.stage or "")
        return state

    def resume(self, visit: int, origin: datetime) -> Resume:
        """What the next run needs to pick up at follow-up visit `visit`."""
        return Resume(
            record=self.rec,
            stage_index=self.position[0],
            step_index=self.position[1],
            visit=visit,
            origin=origin,
            compensations=[(s, c.model_dump(mode="json")) for s, c in self.compensations],
            done_at=self.done_at,
            performers=self.performers,
            used_signatures=sorted(self.used_signatures),
            seen_events=sorted(self.seen_events),
            person_retries=self.person_retries,
            projected=self.projected,
        )
