"""Recorded paths of QA's decisions added in session 2026-12-02 #5 (tests/histories/): a
record review made stale and made again before release, an exceptional release at a
physician's request with a classified, CAPA-bearing disposition, an order refused stock past
its shelf life, a deviation held for an investigation; and (session 2026-12-02 #6) a rework
from an earlier step, a conditional acceptance confirmed before release and an allocated dose
expiring before administration. Recorded like
`tests.history_scenarios`; never re-recorded over."""

from __future__ import annotations

from datetime import timedelta

from tests.harness import Harness
from tests.history_scenarios import Handle, Scenario
from tests.products import (
    EXPIRING_ADMINISTRATION,
    EXPIRING_LOT,
    EXPIRING_ORDER,
    REVIEWED_RELEASE,
    REWORKED,
)
from tests.test_record_review import _report, _review
from tests.test_rework import _expanded
from tests.test_rework import _report as _report_rework
from workflows.model import DecisionAction, Severity


async def reviewed_release_after_stale_review(harness: Harness) -> Handle:
    """Reviewed after receipt, made stale by the assay, reviewed again, released."""
    h = await harness.start(REVIEWED_RELEASE)
    await harness.until_waiting(h, "event custody at receipt")
    await _report(harness, h, "receipt")
    await harness.until_waiting(h, "at assay")
    await _review(harness, h, "custody reviewed")
    await _report(harness, h, "assay")
    await harness.until_waiting(h, "decision at release")
    await _review(harness, h, "reviewed by exception")
    await harness.decide(h, "release", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def exceptional_release_requested_classified(harness: Harness) -> Handle:
    """An OOS dose released exceptionally at the physician's request, classified major with
    its CAPA."""
    h, opened = await harness.with_oos_dose()
    dev = opened.deviation_id
    await harness.request_exceptional_release(h, dev, "no other therapy")
    await harness.decide(
        h,
        dev,
        DecisionAction.EXCEPTIONAL_RELEASE,
        reason="benefit outweighs risk",
        severity=Severity.MAJOR,
        capa="CAPA-0001",
    )
    await harness.until_waiting(h, "decision at release")
    await harness.decide(h, "release", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def order_refused_expired_stock(harness: Harness) -> Handle:
    """An order finds only stock past its shelf life and is abandoned by QA."""
    lot = await harness.start(EXPIRING_LOT)
    await harness.finish(lot)
    await harness.skip(timedelta(days=31))
    h = await harness.start(EXPIRING_ORDER)
    rec = await harness.advance_until(h, lambda r: bool(r.open_deviations()), what="no stock")
    dev = rec.open_deviations()[0].deviation_id
    await harness.decide(h, dev, DecisionAction.ABANDON, reason="no stock in date")
    await harness.finish(h)
    return h


async def deviation_held_then_abandoned(harness: Harness) -> Handle:
    """An OOS dose held open for an investigation, then abandoned when it closes."""
    h, opened = await harness.with_oos_dose()
    dev = opened.deviation_id
    await harness.decide(h, dev, DecisionAction.ON_HOLD, reason="investigation INV-1")
    await harness.decide(h, dev, DecisionAction.ABANDON, reason="INV-1 closed")
    await harness.finish(h)
    return h


async def reworked_from_expansion(harness: Harness) -> Handle:
    """A formulation out of specification, reworked from expansion (the first expansion's hold
    superseded), formulated in specification and released."""
    h = await harness.start(REWORKED)
    await _expanded(harness, h, 1)
    await _report_rework(harness, h, "formulation", 1, viability_pct=52.0)
    rec = await harness.advance_until(h, lambda r: bool(r.open_deviations()), what="OOS")
    dev = rec.open_deviations()[0].deviation_id
    await harness.decide(h, dev, DecisionAction.REWORK, reason="re-expand", rework_to="expansion")
    await harness.skip(timedelta(days=3, hours=12))
    await _expanded(harness, h, 2)
    await _report_rework(harness, h, "formulation", 2, viability_pct=86.0)
    await harness.until_waiting(h, "decision at release")
    await harness.decide(h, "release", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def accepted_on_conditions(harness: Harness) -> Handle:
    """A hold breached, accepted on conditions, confirmed met before release."""
    h = await harness.start(REWORKED)
    await _expanded(harness, h, 1)
    rec = await harness.advance_until(h, lambda r: bool(r.deviations), step=timedelta(hours=6))
    dev = rec.deviations[0].deviation_id
    await harness.decide(
        h, dev, DecisionAction.ACCEPT_CONDITIONALLY, reason="a day over", conditions="sterility"
    )
    await _report_rework(harness, h, "formulation", 1, viability_pct=88.0)
    await harness.until_waiting(h, "decision at release")
    await harness.decide(h, dev, DecisionAction.CONDITIONS_MET, reason="LIMS-77 negative")
    await harness.decide(h, "release", DecisionAction.APPROVE)
    await harness.finish(h)
    return h


async def allocated_dose_expired(harness: Harness) -> Handle:
    """A dose allocated from a lot with a 30-day shelf life is not administered in time: the
    shelf-life clock opens a deviation by itself and QA abandons the batch."""
    lot = await harness.start(EXPIRING_LOT)
    await harness.finish(lot)
    h = await harness.start(EXPIRING_ADMINISTRATION)
    rec = await harness.advance_until(
        h, lambda r: bool(r.open_deviations()), step=timedelta(days=1), what="expiry"
    )
    dev = rec.open_deviations()[0].deviation_id
    await harness.decide(h, dev, DecisionAction.ABANDON, reason="expired before administration")
    await harness.finish(h)
    return h


QA_SCENARIOS: dict[str, Scenario] = {
    "reviewed_release_after_stale_review": reviewed_release_after_stale_review,
    "exceptional_release_requested_classified": exceptional_release_requested_classified,
    "order_refused_expired_stock": order_refused_expired_stock,
    "deviation_held_then_abandoned": deviation_held_then_abandoned,
    "reworked_from_expansion": reworked_from_expansion,
    "accepted_on_conditions": accepted_on_conditions,
    "allocated_dose_expired": allocated_dose_expired,
}
