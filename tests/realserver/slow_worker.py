"""`worker.py` whose simulated world lingers after chosen side effects: a kill lands mid-activity.

The simulated world answers at once, so a worker killed at a random moment is almost never
inside an activity. Run as `python -m tests.realserver.slow_worker` with the same environment
as `worker.py`, plus:

- `RS_SLOW_ACTIVITY`: the activity to slow down (e.g. `book_slot`);
- `RS_SLOW_BATCHES`: comma-separated batch ids it applies to;
- `RS_SLOW_SECONDS`: how long to linger after the side effect, before answering.

The first call of such an activity performs its side effect (recorded in the world's store),
then sleeps; a worker killed meanwhile leaves Temporal with a started activity whose effect
already happened, and the retry on another worker must not repeat it. Everything else is the
real worker: `vein2vein.worker.serve` builds the world from the settings, as in production.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

from activities import SimulatedWorld
from vein2vein import worker
from vein2vein.observability import configure_logging
from vein2vein.settings import Settings
from workflows.model import StepCall, StepOutput

log = logging.getLogger("vein2vein.slow_worker")


class LingeringWorld(SimulatedWorld):
    """The simulated world, pausing after the first effect of one activity for some batches."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slow_activity = os.environ["RS_SLOW_ACTIVITY"]
        self.slow_batches = set(os.environ["RS_SLOW_BATCHES"].split(","))
        self.pause = float(os.environ.get("RS_SLOW_SECONDS", "60"))

    async def perform(self, call: StepCall) -> StepOutput:
        output = await super().perform(call)
        first = self.calls(call.idempotency_key) == 1
        if first and call.activity == self.slow_activity and call.batch_id in self.slow_batches:
            log.warning("lingering after the side effect of %s", call.idempotency_key)
            await asyncio.sleep(self.pause)
        return output


async def run() -> None:
    """`worker.run` with the lingering world in place of the simulated one."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    worker.SimulatedWorld = LingeringWorld  # type: ignore[attr-defined]  # serve() builds it
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await worker.serve(settings, stop)


if __name__ == "__main__":
    asyncio.run(run())
    logging.shutdown()
    os._exit(0)
