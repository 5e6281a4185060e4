"""Demonstration batches run their process clocks at the demonstration's speed: a copy of the
definition whose process durations are divided by the speed (never below a floor), whose
activity timeouts and retries are untouched, and which is a definition of its own."""

from __future__ import annotations

from datetime import timedelta

import pytest

from definitions import CATALOG
from tests.harness import Harness
from tests.products import FLAKY_BOOKING, TEST_PRODUCTS
from vein2vein.demo_time import at_speed
from workflows.definition import CompiledDefinition, validate
from workflows.language import Handoff, Hold, WaitFor

PRODUCTS = {**CATALOG, **TEST_PRODUCTS}


def _durations(defn: CompiledDefinition) -> list[tuple[str, str, timedelta]]:
    out = []
    for _, step in defn.steps():
        for field in ("deadline", "max", "min", "window", "every"):
            value = getattr(step, field, None)
            if isinstance(value, timedelta):
                out.append((step.name, field, value))
        for n, visit in enumerate(getattr(step, "visits", ())):
            out.append((step.name, f"visit {n}", visit))
    return out


@pytest.mark.parametrize("defn", PRODUCTS.values(), ids=list(PRODUCTS))
def test_process_durations_are_scaled_and_activity_policies_are_not(
    defn: CompiledDefinition,
) -> None:
    speed, floor = 7200.0, timedelta(seconds=20)
    fast = at_speed(defn, speed, floor=floor)

    assert fast.version == f"{defn.version}+demo7200x" and fast.content_hash != defn.content_hash
    assert validate(fast) == []
    for (name, field, before), (_, _, after) in zip(
        _durations(defn), _durations(fast), strict=True
    ):
        assert after == max(before / speed, floor), (name, field)
    policies = [s.ask.policy for _, s in defn.steps() if getattr(s, "ask", None)]
    fast_policies = [s.ask.policy for _, s in fast.steps() if getattr(s, "ask", None)]
    assert policies == fast_policies
    assert at_speed(defn, 1) is defn


async def test_a_batch_of_the_copy_runs_its_clocks_at_that_speed(harness: Harness) -> None:
    fast = at_speed(FLAKY_BOOKING, 100, floor=timedelta(seconds=1))
    receipt = fast.step("receipt")
    assert isinstance(receipt, Handoff) and receipt.deadline == timedelta(days=3) / 100
    assert isinstance(fast.step("expansion"), WaitFor)
    assert isinstance(fast.step("receipt_to_expanded"), Hold)
    handle = await harness.start(fast)

    rec = await harness.until_waiting(handle, "event custody at receipt", step=timedelta(minutes=1))

    clock = next(c for c in rec.clocks if c.name == "receipt")
    assert clock.started is not None
    assert clock.limit - clock.started == timedelta(days=3) / 100
    assert rec.definition_version == "1+demo100x"
    # The courier of this (real-speed) world takes most of a day: the scaled deadline, 43 min
    # after the wait began, is what the engine enforces.
    late = await harness.advance_until(
        handle, lambda r: bool(r.deviations), what="a deviation", step=timedelta(minutes=5)
    )
    assert late.deviations[0].step == "receipt"
    assert late.deviations[0].opened_at - clock.started < timedelta(hours=1)
    await handle.cancel()
    await harness.finish(handle)
