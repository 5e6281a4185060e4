"""The seeded simulated outside world: hospitals, couriers, MES and LIMS in one adapter.

It answers every activity the way a real system would, schedules what that system would report
later (see `activities.sim_report`), and injects faults on demand: failed collection, courier
delay, temperature excursion, a custody report without temperature evidence or with a leg never
in range, out-of-specification assay, label mismatch, a system that errors
N times and then works, no manufacturing capacity. Calls are counted per idempotency key in a
SQLite file, so a test can prove each side effect happened once even across worker crashes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from activities.adapters import AdapterUnavailable, BusinessRefusal
from activities.sim_report import ScheduledReport
from activities.sim_tables import DEFAULT_LOTS, DURATIONS_H, NOMINAL, Fault, FaultKind
from records.database import private_file
from records.temperature import TemperatureSeries, summarise
from workflows.coi import DefaultCoiIssuer
from workflows.language import celsius
from workflows.model import (
    CustodyReport,
    ExternalEvent,
    ResultValue,
    StepCall,
    StepOutput,
    TemperatureSummary,
)
from workflows.vocabulary import BusinessError

Scheduler = Callable[[ScheduledReport], Awaitable[None]]
#: Where the simulated courier's full reading series go (the records store's `put`).
TemperatureSink = Callable[[TemperatureSeries], object]

#: The ranges the simulated loggers' series are summarised against, by shipping condition;
#: the products' handoffs declare these (their simulated readings sit well inside or far out).
SIM_RANGES = {"frozen": celsius(-196, -150), "2-8C": celsius(2, 8)}


class SimulatedWorld:
    """The simulated adapter for every site. Thread-safe; counts calls per idempotency key."""

    def __init__(
        self,
        *,
        seed: int = 7,
        faults: list[Fault] | None = None,
        durations_h: dict[str, float] | None = None,
        store: Path | None = None,
        speed: float = 1.0,
        temperature_sink: TemperatureSink | None = None,
    ) -> None:
        self.seed = seed
        self.temperature_sink = temperature_sink
        self.faults = list(faults or [])
        self.durations_h = {**DURATIONS_H, **(durations_h or {})}
        self.values: dict[str, tuple[float | str, float | str, str]] = {}
        self.speed = speed
        self.schedule: Scheduler | None = None
        self._lock = threading.Lock()
        if store is not None:
            private_file(store)
        self._db = sqlite3.connect(str(store) if store else ":memory:", check_same_thread=False)
        if store is not None:
            # A stand-in for other systems: it must survive the worker's crash (a retried call
            # gets the first answer), which write-ahead logging without a sync per commit does;
            # a sync per commit only guards against the machine losing power.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, activity TEXT, n INTEGER);"
            "CREATE TABLE IF NOT EXISTS call_sites (key TEXT PRIMARY KEY, site TEXT);"
            "CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, output TEXT);"
            "CREATE TABLE IF NOT EXISTS fired (fault INTEGER, batch TEXT, n INTEGER,"
            " PRIMARY KEY (fault, batch));"
        )
        self._db.commit()

    # -- what tests read -------------------------------------------------------------------

    def calls(self, key: str) -> int:
        """How many times an activity was called with this idempotency key."""
        row = self._db.execute("SELECT n FROM calls WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def site_called(self, key: str) -> str | None:
        """The site a call with this idempotency key was addressed to."""
        row = self._db.execute("SELECT site FROM call_sites WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def effects(self, activity: str | None = None) -> dict[str, int]:
        """Idempotency key -> number of side effects performed (1 each, by construction)."""
        rows = self._db.execute(
            "SELECT e.key, c.activity FROM effects e JOIN calls c ON c.key = e.key"
        ).fetchall()
        return {k: 1 for k, a in rows if activity is None or a == activity}

    def all_calls(self) -> dict[str, int]:
        """Every idempotency key seen, with its call count."""
        return {k: int(n) for k, n in self._db.execute("SELECT key, n FROM calls").fetchall()}

    def simulate(
        self, result: str, *, nominal: float | str, failing: float | str, unit: str = ""
    ) -> None:
        """What the simulated outside world reports for `result`: `nominal` normally (numbers
        vary by a few percent), `failing` when an "oos" fault names it. A product (or a test)
        calls this for results the built-in table (`NOMINAL`) does not know."""
        self.values[result] = (nominal, failing, unit)

    def add_fault(self, fault: Fault) -> None:
        """Inject one more fault from now on."""
        self.faults.append(fault)

    # -- the adapter -----------------------------------------------------------------------

    async def perform(self, call: StepCall) -> StepOutput:
        """Carry out `call` once per idempotency key; later calls return the first answer."""
        # The store's writes run beside the event loop, which the worker's every task shares.
        n, done = await asyncio.to_thread(self._count_call, call)
        if done is not None:
            return StepOutput.model_validate_json(done)
        if self._fault("flaky", call) is not None:
            raise AdapterUnavailable(f"simulated outage at {call.site} (call {n} for this key)")
        if call.activity == "book_slot" and self._fault("no_capacity", call):
            raise BusinessRefusal(
                BusinessError.NO_CAPACITY, f"no manufacturing slot at {call.site}"
            )
        output = self._answer(call)
        if call.expects is not None and not self._fault("silent", call):
            await self._report_later(call)
        await asyncio.to_thread(self._keep_effect, call.idempotency_key, output.model_dump_json())
        return output

    def _count_call(self, call: StepCall) -> tuple[int, str | None]:
        """Count one more call for its key; how many so far, and the first answer if any."""
        with self._lock:
            self._db.execute(
                "INSERT INTO calls (key, activity, n) VALUES (?, ?, 1) "
                "ON CONFLICT(key) DO UPDATE SET n = n + 1",
                (call.idempotency_key, call.activity),
            )
            self._db.execute(
                "INSERT OR IGNORE INTO call_sites (key, site) VALUES (?, ?)",
                (call.idempotency_key, call.site),
            )
            self._db.commit()
            done = self._db.execute(
                "SELECT output FROM effects WHERE key = ?", (call.idempotency_key,)
            ).fetchone()
            return self.calls(call.idempotency_key), done[0] if done else None

    def _keep_effect(self, key: str, output: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO effects (key, output) VALUES (?, ?)", (key, output)
            )
            self._db.commit()

    def _answer(self, call: StepCall) -> StepOutput:
        if call.activity == "book_slot":
            start = call.window_start or datetime.now(UTC)
            return StepOutput(
                data={
                    "slot": f"{call.site}-{self._rng(call).randint(100, 999)}",
                    "slot_start": start.isoformat(),
                }
            )
        if call.activity == "allocate_lots":
            names = [m for m in call.params.get("materials", "").split(",") if m]
            return StepOutput(lots=[DEFAULT_LOTS.get(m, f"{m.upper()}-LOT-1") for m in names])
        return StepOutput(data={"accepted": call.activity})

    async def _report_later(self, call: StepCall) -> None:
        if self.schedule is None:
            raise AdapterUnavailable("simulated world has no report scheduler")
        rng = self._rng(call)
        operation = call.params.get("operation", call.activity)
        hours = self.durations_h.get(operation, self.durations_h["default"])
        delay = timedelta(hours=hours * rng.uniform(0.9, 1.1) / self.speed)
        late = self._fault("courier_delay", call)
        if late is not None:
            delay += late.delay / self.speed
        # A failed collection yields too few cells: the process's re-collection decides.
        failed = call.expects == "collection.completed" and bool(
            self._fault("failed_collection", call)
        )
        custody = await self._custody(call) if call.expects == "custody" else None
        event = ExternalEvent(
            event_id=f"{call.idempotency_key}:report",
            batch_id=call.batch_id,
            step=call.step,
            type=call.expects or "",
            reporter=f"{call.site}/operator",
            occurred_at=datetime.now(UTC),
            results=self._results(call, rng, failed_collection=failed),
            custody=custody,
            lots=[DEFAULT_LOTS[m] for m in call.params.get("consumes", "").split(",") if m],
        )
        await self.schedule(ScheduledReport(delay=delay, event=event))

    def _results(
        self, call: StepCall, rng: random.Random, *, failed_collection: bool = False
    ) -> dict[str, ResultValue]:
        out = {}
        for name in call.records:
            good, bad, unit = self.values.get(name) or NOMINAL.get(name, (1.0, 0.0, ""))
            oos = self._fault("oos", call, result=name)
            low = name == "cd3_cells" and failed_collection
            value = bad if (oos or low) else good
            if isinstance(value, float) and value:
                value = round(value * rng.uniform(0.97, 1.03), 4)
            out[name] = ResultValue(value=value, unit=unit, method="simulated")
        return out

    async def _custody(self, call: StepCall) -> CustodyReport:
        coi = call.coi or ""
        container = call.params.get("container", "BAG")
        label = f"{coi}-{container}"
        if self._fault("label_mismatch", call):
            coi = DefaultCoiIssuer().allocate(f"another-patient:{call.batch_id}")
            label = f"{coi}-{container}"
        return CustodyReport(
            from_party=call.params.get("from_party", "sender"),
            to_party=call.params.get("to_party", "receiver"),
            scanned_coi=coi,
            container_label=label,
            location=call.params.get("location", call.site),
            temperature=await self._temperature(call),
        )

    async def _temperature(self, call: StepCall) -> TemperatureSummary | None:
        """The logger's summary for this leg: one reading a minute for the leg's duration.

        With a `temperature_sink` the full series is handed to it (the records store) and the
        summary names it by hash, as a real courier's upload through the API would.
        """
        if self._fault("no_temperature_summary", call):
            return None
        frozen = call.params.get("condition") == "frozen"
        operation = call.params.get("operation", call.activity)
        hours = self.durations_h.get(operation, self.durations_h["default"])
        leg_minutes = max(60, round(hours * 60))
        logger = "LOG-" + hashlib.sha256(call.idempotency_key.encode()).hexdigest()[:10].upper()
        if self._fault("never_in_range", call):
            # A summary that claims little time outside while no reading was ever in range:
            # the engine must judge min/max against the range, not trust the minutes alone.
            # It is not derived from readings, so no series backs it.
            lo, hi = (-80.0, -70.0) if frozen else (12.0, 14.0)
            return TemperatureSummary(
                min_c=lo,
                max_c=hi,
                minutes_outside_range=4.0,
                logger_id=logger,
                readings=leg_minutes,
                interval_seconds=60.0,
            )
        lo, hi = (-160.0, -152.0) if frozen else (3.2, 6.9)
        peak, minutes_out = None, 0
        if self._fault("temperature_excursion", call):
            peak, minutes_out = (-60.0, 95) if frozen else (14.5, 80)
        rng = self._rng(call, "temperature")
        values = [round(rng.uniform(lo, hi), 1) for _ in range(max(leg_minutes, minutes_out))]
        values[0], values[-1] = lo, hi  # the band's edges, so min and max are predictable
        if peak is not None:
            middle = (len(values) - minutes_out) // 2
            values[middle : middle + minutes_out] = [peak] * minutes_out
        start = datetime.now(UTC) - timedelta(minutes=len(values))
        series = TemperatureSeries(
            batch_id=call.batch_id,
            step=call.step,
            logger_id=logger,
            interval_seconds=60.0,
            readings=[(start + timedelta(minutes=i), v) for i, v in enumerate(values)],
        )
        summary = summarise(series, SIM_RANGES["frozen" if frozen else "2-8C"])
        if self.temperature_sink is None:
            return summary.model_copy(update={"series_sha256": None})
        await asyncio.to_thread(self.temperature_sink, series)
        return summary

    # -- faults ----------------------------------------------------------------------------

    def _fault(self, kind: FaultKind, call: StepCall, *, result: str | None = None) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.kind != kind:
                continue
            if fault.batch_id not in (None, call.batch_id) or fault.step not in (None, call.step):
                continue
            if fault.activity not in (None, call.activity):
                continue
            if kind == "oos" and fault.result not in (None, result):
                continue
            with self._lock:
                row = self._db.execute(
                    "SELECT n FROM fired WHERE fault = ? AND batch = ?", (index, call.batch_id)
                ).fetchone()
                fired = int(row[0]) if row else 0
                if fired >= fault.times:
                    continue
                if self._rng(call, str(index)).random() > fault.probability:
                    continue
                self._db.execute(
                    "INSERT INTO fired (fault, batch, n) VALUES (?, ?, 1) "
                    "ON CONFLICT(fault, batch) DO UPDATE SET n = n + 1",
                    (index, call.batch_id),
                )
                self._db.commit()
            return fault
        return None

    def _rng(self, call: StepCall, salt: str = "") -> random.Random:
        digest = hashlib.sha256(f"{self.seed}:{call.idempotency_key}:{salt}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def describe(self) -> str:
        """A one-line summary for logs."""
        return json.dumps({"seed": self.seed, "faults": len(self.faults), "speed": self.speed})
