"""The simulated outside world as its own process, for the recovery benchmark.

In a deployment the MES, couriers and labs are other systems: a worker asks them to act, and
later they report through the integration path (`workflows.client.report_event`). The default
simulated adapter instead schedules each report as a small workflow on the deployment's own
Temporal server and worker (`activities.sim_report`), which is what time-skipping tests need,
but it doubles the Temporal work per operation and dies with the worker it is measuring.

Here the simulated adapter still decides what is reported and when (same seed, same tables),
then hands the report over a loopback socket to `OutsideWorld`, running in the benchmark's own
process, which sends it when it is due, as an integration service would. A hand-over that
fails is an unreachable system (`AdapterUnavailable`): the call is retried under its policy,
and a report handed over twice (a call retried after its worker died) is sent once.

    VEIN2VEIN_OUTSIDE_WORLD_PORT=N python -m benchmarks.outside_world   # the worker
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import UTC, datetime
from functools import partial

from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from activities.adapters import AdapterUnavailable
from activities.sim_report import ScheduledReport
from activities.simulated import SimulatedWorld
from vein2vein.settings import Settings
from workflows.client import gone, report_event, unprocessed

#: The worker finds the outside world on this loopback port.
PORT_VARIABLE = "VEIN2VEIN_OUTSIDE_WORLD_PORT"
#: A hand-over that takes longer than this counts as the system being unreachable.
HAND_OVER_TIMEOUT = 5.0
#: A report not taken by its batch after this long is given up (the batch's deadline acts).
DELIVERY_PATIENCE = 600.0

log = logging.getLogger(__name__)


class OutsideWorld:
    """Takes reports handed over by workers and sends each to its batch when it is due."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._seen: set[str] = set()
        self._pending: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.refused = 0
        self.given_up = 0

    async def close(self) -> None:
        """Stop taking reports and drop those not yet sent (the run is over)."""
        self._server.close()
        pending = list(self._pending)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def serve(self) -> asyncio.Server:
        """Listen on a free loopback port (`port`, the one workers hand reports to)."""
        self._server = await asyncio.start_server(self._take, "127.0.0.1", 0)
        self.port: int = self._server.sockets[0].getsockname()[1]
        return self._server

    async def _take(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            # A worker killed mid-hand-over resets its connection: its call is retried.
            with contextlib.suppress(ConnectionError):
                await self._read(reader, writer)
        finally:
            writer.close()

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            report = ScheduledReport.model_validate_json(line)
            if report.event.event_id not in self._seen:
                self._seen.add(report.event.event_id)
                task = asyncio.create_task(self._deliver(report))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            writer.write(b"ok\n")
            await writer.drain()

    async def _deliver(self, report: ScheduledReport) -> None:
        await asyncio.sleep(report.delay.total_seconds())
        event = report.event.model_copy(update={"occurred_at": datetime.now(UTC)})
        loop = asyncio.get_running_loop()
        give_up = loop.time() + DELIVERY_PATIENCE
        attempt = 0
        while True:
            try:
                await report_event(self._client, event)
                self.delivered += 1
                return
            except WorkflowUpdateFailedError as err:
                if not unprocessed(err):
                    self.refused += 1
                    return
            except RPCError as err:
                if gone(err):
                    self.refused += 1
                    return
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                pass
            # Not taken yet (no worker, or no server, for now): as an integration would.
            attempt += 1
            if loop.time() > give_up:
                self.given_up += 1
                log.warning("report %s given up", event.event_id)
                return
            await asyncio.sleep(min(0.5 * 2**attempt, 5.0))


async def hand_over(port: int, report: ScheduledReport) -> None:
    """The worker's side: give `report` to the outside world listening on `port`."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), HAND_OVER_TIMEOUT
        )
        try:
            writer.write(report.model_dump_json().encode() + b"\n")
            await writer.drain()
            ack = await asyncio.wait_for(reader.readline(), HAND_OVER_TIMEOUT)
        finally:
            writer.close()
    except (OSError, TimeoutError) as err:
        raise AdapterUnavailable(f"the outside world did not take the report: {err}") from err
    if ack != b"ok\n":
        raise AdapterUnavailable("the outside world did not acknowledge the report")


def _world(settings: Settings) -> SimulatedWorld:
    """The simulated world as `vein2vein.worker` builds it, handing its reports over."""
    world = SimulatedWorld(
        seed=settings.sim_seed,
        store=settings.data_dir / "simulated.db",
        speed=settings.sim_speed,
    )
    world.schedule = partial(hand_over, int(os.environ[PORT_VARIABLE]))
    return world


if __name__ == "__main__":
    from vein2vein.worker import run

    asyncio.run(run(_world))
    logging.shutdown()
    os._exit(0)
