"""The recovery benchmark's outside world: the simulated adapter decides a report, a process of
its own sends it through the integration path, once however often a retried call hands it
over, and a world that cannot be reached is an unreachable system the call retries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from activities.adapters import AdapterUnavailable
from activities.sim_report import ScheduledReport
from benchmarks.outside_world import OutsideWorld, hand_over
from tests.harness import Harness
from tests.products import FLAKY_BOOKING


async def test_a_report_handed_over_twice_reaches_its_batch_once(harness: Harness) -> None:
    held: list[ScheduledReport] = []
    saved = harness.world.schedule
    assert saved is not None

    async def hold(report: ScheduledReport) -> None:
        """Keep the MES report back; earlier reports (the courier's) go as usual."""
        if report.event.type == "mes.operation_done":
            held.append(report)
        else:
            await saved(report)

    harness.world.schedule = hold
    try:
        handle = await harness.start(FLAKY_BOOKING)
        await harness.until_waiting(handle, "event mes.operation_done at expansion")
    finally:
        harness.world.schedule = saved
    assert [r.event.type for r in held] == ["mes.operation_done"]
    report = held[0].model_copy(update={"delay": timedelta(0)})

    world = OutsideWorld(harness.client)
    await world.serve()
    try:
        # A call retried after its worker died hands the same report over again.
        await hand_over(world.port, report)
        await hand_over(world.port, report)
        rec = await harness.until_waiting(handle, "decision at approve")
    finally:
        await world.close()
    assert (world.delivered, world.refused, world.given_up) == (1, 0, 0)
    expansion = next(s for s in rec.steps if s.step == "expansion")
    assert expansion.ended_at is not None

    with pytest.raises(AdapterUnavailable):
        await hand_over(world.port, report)
