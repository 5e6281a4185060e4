"""A real Temporal dev server and real worker processes, each one killable, for one test.

Every test gets its own data directory, its own free ports, its own `temporal server
start-dev` on a SQLite file there and `worker.py` processes pointed at it. Teardown kills
whatever is still running and prints the tail of every log, which pytest shows when the test
failed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.client import Client, WorkflowHandle

from activities import SimulatedWorld
from records import Ledger
from tests.harness import awaits, order
from vein2vein.embedded import listening, start_dev_server
from vein2vein.keys import register_key
from vein2vein.settings import Settings
from workflows.client import connect, report_event, start_batch
from workflows.client import decide as submit
from workflows.definition import CompiledDefinition
from workflows.model import (
    BatchRecord,
    DecisionAction,
    DecisionBody,
    DecisionReceipt,
    ExternalEvent,
    Role,
)
from workflows.signatures import SigningKey

REPO = Path(__file__).resolve().parents[2]
#: Simulated hours per wall-clock hour: a 20 h courier run reports after about 2 s.
SIM_SPEED = 36_000
#: Generous bound for anything the tests wait for; a healthy run needs a fraction of it.
PATIENCE = 45.0
T = TypeVar("T")
_signatures = itertools.count(1)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    """True while process `pid` runs (a zombie awaiting its reaper counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    what: str,
    timeout: float = PATIENCE,
    every: float = 0.1,
) -> T:
    """Poll `probe` until `done` holds for its value; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = await probe()
            if done(value):
                return value
            last = value
        except Exception as err:  # a query racing a restart: keep polling until the deadline
            last = err
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached after {timeout:.0f}s; last seen: {last!r}")
        await asyncio.sleep(every)


class Cluster:
    """One dev server, worker processes, and what a test needs to drive batches on them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.key = SigningKey.generate("k-realserver")
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        #: Further workers polling the same task queue (`start_second_worker`).
        self.others: list[subprocess.Popen[bytes]] = []
        self._workers = itertools.count(1)
        self._client: Client | None = None
        self.batches: list[str] = []
        self.embedded_servers: set[int] = set()
        self._world: SimulatedWorld | None = None

    # -- processes -------------------------------------------------------------------------

    def start_server(self) -> None:
        """Start (or restart) the dev server on this test's SQLite file and port."""
        assert self.server is None, "the server is already running"
        self.server = start_dev_server(self.root, port=self.port, ui=False)

    def kill_server(self) -> None:
        """SIGKILL the dev server: no chance to flush or say goodbye."""
        assert self.server is not None, "the server is not running"
        self.server.kill()
        self.server.wait(timeout=10)
        self.server = None

    def start_worker(
        self, module: str | None = None, *, embedded: bool = False, **extra_env: str
    ) -> None:
        """Start `worker.py` (or `python -m module`) as its own process, logging to a file.

        `embedded`: no TEMPORAL_ADDRESS, so the worker runs its own dev server on this
        cluster's port and SQLite file (the laptop mode).
        """
        assert self.worker is None, "a worker is already running"
        self.worker, self.worker_log = self._spawn(module, embedded, extra_env)

    def start_second_worker(self, module: str | None = None, **extra_env: str) -> Path:
        """Start one more `worker.py` (or `python -m module`) on the same task queue; returns
        its log file."""
        proc, log = self._spawn(module, False, extra_env)
        self.others.append(proc)
        return log

    def _spawn(
        self, module: str | None, embedded: bool, extra_env: dict[str, str]
    ) -> tuple[subprocess.Popen[bytes], Path]:
        register_key(Settings(data_dir=self.root), self.key)  # the worker trusts the registry
        n = next(self._workers)
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": self.address,
            "VEIN2VEIN_DATA_DIR": str(self.root),
            "VEIN2VEIN_SIM_SPEED": str(SIM_SPEED),
            "VEIN2VEIN_DEFINITIONS": "tests.realserver.products:PRODUCTS",
            "VEIN2VEIN_LOG_LEVEL": "INFO",
            **extra_env,
        }
        env.pop("VEIN2VEIN_LEDGER_URL", None)
        if embedded:
            assert self.server is None, "the embedded server would collide with ours"
            del env["TEMPORAL_ADDRESS"]
            env["VEIN2VEIN_TEMPORAL_PORT"] = str(self.port)
            env["VEIN2VEIN_UI_PORT"] = str(free_port())
        args = [sys.executable, "-m", module] if module else [sys.executable, "worker.py"]
        path = self.root / f"worker-{n}.log"
        with path.open("ab") as log:
            proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=log)
        return proc, path

    async def worker_ready(self, timeout: float = 30.0) -> None:
        """Wait until the worker logs that it polls, failing at once if it died."""
        assert self.worker is not None
        deadline = time.monotonic() + timeout
        while "worker running" not in self.worker_log.read_text(errors="replace"):
            if self.worker.poll() is not None:
                raise AssertionError(f"worker exited with {self.worker.returncode} at start")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not running after {timeout:.0f}s")
            await asyncio.sleep(0.1)

    def worker_children(self) -> set[int]:
        """Process ids of the worker's children (its embedded dev server), remembered for
        teardown."""
        assert self.worker is not None
        found = set()
        for task in Path(f"/proc/{self.worker.pid}/task").iterdir():
            found |= {int(p) for p in (task / "children").read_text().split()}
        self.embedded_servers |= found
        return found

    def kill_worker(self, sig: signal.Signals = signal.SIGKILL) -> int:
        """Send `sig` to the worker and return its exit code."""
        assert self.worker is not None, "no worker is running"
        self.worker.send_signal(sig)
        code = self.worker.wait(timeout=20)
        self.worker = None
        return code

    def close(self) -> None:
        """Kill every child process still running."""
        for proc in (self.worker, self.server, *self.others):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        self.worker = self.server = None
        self.others = []
        for pid in self.embedded_servers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of every log this test produced."""
        out = []
        for path in sorted(self.root.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"----- {path.name} (last {len(tail)} lines) -----\n" + "\n".join(tail))
        return "\n".join(out)

    async def pending(self, batch_id: str) -> set[str]:
        """Names of the activities the server has scheduled or started for a batch."""
        desc = await self.handle(batch_id).describe(rpc_timeout=timedelta(seconds=5))
        return {p.activity_type.name for p in desc.raw_description.pending_activities}

    async def pending_activities(self) -> str:
        """What the server says each batch is doing: pending activities and their failures."""
        if self._client is None or not listening("127.0.0.1", self.port):
            return "(server down: no pending activities to show)"
        out = []
        for batch_id in self.batches:
            try:
                desc = await self.handle(batch_id).describe(rpc_timeout=timedelta(seconds=3))
            except Exception as err:
                out.append(f"{batch_id}: describe failed: {err}")
                continue
            for p in desc.raw_description.pending_activities:
                failure = p.last_failure.message if p.HasField("last_failure") else ""
                out.append(
                    f"{batch_id}: {p.activity_type.name} attempt {p.attempt} "
                    f"state {p.state} {failure}".rstrip()
                )
        return "\n".join(out) or "(no pending activities)"

    # -- Temporal --------------------------------------------------------------------------

    async def client(self) -> Client:
        """A client of this cluster's server (the pydantic data converter)."""
        if self._client is None:
            self._client = await connect(self.address)
        return self._client

    async def start(self, definition: CompiledDefinition, batch_id: str | None = None) -> str:
        """Start a batch of `definition`; its id."""
        handle = await start_batch(await self.client(), definition, order(), batch_id=batch_id)
        self.batches.append(handle.id)
        return handle.id

    def handle(self, batch_id: str) -> WorkflowHandle[Any, Any]:
        """The workflow handle of a batch."""
        assert self._client is not None
        return self._client.get_workflow_handle(batch_id)

    async def record(self, batch_id: str) -> BatchRecord:
        """The batch record now (a query: needs a running worker)."""
        await self.client()
        # Patient: under chaos and a loaded machine a query may wait for a busy worker.
        rec: BatchRecord = await self.handle(batch_id).query(
            "record", result_type=BatchRecord, rpc_timeout=timedelta(seconds=30)
        )
        return rec

    async def until(
        self, batch_id: str, done: Callable[[BatchRecord], bool], what: str, **kw: Any
    ) -> BatchRecord:
        """Poll the batch record until `done` holds."""
        return await eventually(
            lambda: self.record(batch_id), done, what=f"{batch_id}: {what}", **kw
        )

    async def until_waiting(self, batch_id: str, needle: str, **kw: Any) -> BatchRecord:
        """Poll until the label of something the record awaits (`Awaiting.label()`) contains
        `needle`."""
        return await self.until(batch_id, lambda r: awaits(r, needle), f"waiting {needle}", **kw)

    async def until_quiet(self, batch_id: str, needle: str) -> BatchRecord:
        """Poll until the batch waits for `needle` with no activity in flight (the moment to
        kill a process without losing an activity to its start-to-close timeout)."""

        async def probe() -> BatchRecord | None:
            rec = await self.record(batch_id)
            if awaits(rec, needle) and not await self.pending(batch_id):
                return rec
            return None

        found = await eventually(probe, lambda r: r is not None, what=f"{batch_id}: quiet")
        assert found is not None
        return found

    def sign(
        self,
        rec: BatchRecord,
        target: str,
        action: DecisionAction,
        *,
        reason: str = "reviewed",
        role: Role = Role.QA,
    ) -> Any:
        """A decision over `rec` signed now (workflow time on a real server is the wall clock)."""
        body = DecisionBody(
            signature_id=f"SIG-RS-{next(_signatures):06d}",
            batch_id=rec.batch_id,
            target=target,
            action=action,
            signer_id="qa-ada",
            printed_name="Ada Quality",
            role=role,
            signed_at=datetime.now(UTC),
            meaning="approval",
            reason=reason,
            record_hash=rec.record_hash,
            key_id=self.key.key_id,
        )
        return self.key.sign(body)

    async def decide(
        self, batch_id: str, target: str, action: DecisionAction, **kw: Any
    ) -> DecisionReceipt:
        """Sign the current record and submit the decision."""
        rec = await self.record(batch_id)
        return await submit(await self.client(), batch_id, self.sign(rec, target, action, **kw))

    async def report(self, batch_id: str, step: str, event_type: str) -> None:
        """Report `step`'s event as its site would, now; the batch must not have seen it."""
        ack = await report_event(
            await self.client(),
            ExternalEvent(
                event_id=f"{batch_id}:{step}",
                batch_id=batch_id,
                step=step,
                type=event_type,
                reporter="TC-NORTH/operator",
                occurred_at=datetime.now(UTC),
            ),
        )
        assert not ack.duplicate

    async def outcome(self, batch_id: str, timeout: float = PATIENCE) -> Any:
        """The batch workflow's result, waiting at most `timeout` seconds."""
        return await asyncio.wait_for(self.handle(batch_id).result(), timeout)

    # -- what the worker left on disk ------------------------------------------------------

    def world(self) -> SimulatedWorld:
        """The worker's simulated world store, read from this process."""
        if self._world is None:
            self._world = SimulatedWorld(store=self.root / "simulated.db")
        return self._world

    def ledger(self) -> Ledger:
        """The worker's ledger."""
        return Ledger.from_url(f"sqlite:///{self.root / 'ledger.db'}")


async def _cluster(root: Path, *, server: bool, quiet: bool = False) -> AsyncIterator[Cluster]:
    """A cluster in `root`; unless `quiet` (a benchmark), its pending calls and log tails are
    printed at the end (pytest shows teardown output when a test failed)."""
    c = Cluster(root)
    try:
        if server:
            c.start_server()
        yield c
        if not quiet:
            print(await c.pending_activities())
    finally:
        c.close()
        if not quiet:
            print(c.log_tails())


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """A dev server on a SQLite file in `tmp_path`, ready; workers are started by the test."""
    async for c in _cluster(tmp_path, server=True):
        yield c


@pytest.fixture
async def bare_cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """No server: for workers that embed their own (`start_worker(embedded=True)`)."""
    async for c in _cluster(tmp_path, server=False):
        yield c
