"""Intervals: a minimum time between two steps defers the later one; a maximum breaches."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.harness import Harness
from tests.products import WINDOWED_INFUSION
from workflows import DefinitionError, Role, days, gate, hold, process, stage
from workflows.model import ClockKind, DecisionAction


@pytest.mark.requirement("PROD-HOLD", "P11-10f")
async def test_infusion_waits_until_the_minimum_interval_has_passed(harness: Harness) -> None:
    handle = await harness.start(WINDOWED_INFUSION)
    rec = await harness.advance_until(
        handle, lambda r: any(c.kind == ClockKind.NOT_BEFORE for c in r.clocks), what="deferral"
    )
    earliest = next(c for c in rec.clocks if c.kind == ClockKind.NOT_BEFORE)
    assert earliest.name == "infusion"
    rec = await harness.until_waiting(handle, "decision at approve")
    runs = {s.step: s for s in rec.steps}
    conditioned = runs["conditioning"].ended_at
    assert conditioned is not None
    assert runs["infusion"].started_at >= conditioned + timedelta(days=5)
    assert earliest.limit == conditioned + timedelta(days=5)
    assert not rec.deviations
    deferred = [e for e in rec.audit if e.action == "step.deferred"]
    assert [e.subject for e in deferred] == ["infusion"]
    assert deferred[0].reason == "interval conditioning_window"
    met = next(c for c in rec.stopped_clocks if c.name == "conditioning_window")
    assert not met.breached and met.limit == conditioned + timedelta(days=9)
    await harness.decide(handle, "approve", DecisionAction.APPROVE)
    await harness.finish(handle)


def test_an_interval_needs_sound_bounds() -> None:
    gate_ = gate("g", roles=(Role.QA,), meaning="ok")
    with pytest.raises(DefinitionError) as err:
        process(
            "test-bad-interval",
            version="1",
            title="t",
            specification={},
            stages=[
                stage(
                    "s",
                    gate_,
                    hold("none", start="g", end="g2"),
                    hold("upside_down", start="g", end="g2", min=days(9), max=days(5)),
                    gate("g2", roles=(Role.QA,), meaning="ok"),
                )
            ],
        )
    assert [f"{v.step}: {v.rule}: {v.message}" for v in err.value.violations] == [
        "none: no timeout: a hold needs a maximum, a minimum or both",
        "upside_down: bad interval: the minimum 9 days, 0:00:00 is not below the maximum "
        "5 days, 0:00:00",
    ]
