"""An out-of-specification product goes to its patient only at the treating physician's signed
request: QA's exceptional release waits for it, and the physician can request, never dispose."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Harness
from tests.products import RELEASE_JUDGED
from workflows.exceptional import REQUEST_MEANING
from workflows.model import AuditAction, DecisionAction, DeviationKind, Role
from workflows.offers import open_decisions

ER = DecisionAction.EXCEPTIONAL_RELEASE
PHYSICIAN = {"role": Role.PHYSICIAN, "signer_id": "dr-hale", "printed_name": "Dr Hale"}


def _offered(rec: Any, role: Role) -> set[str]:
    return {a.target for a in open_decisions(RELEASE_JUDGED, rec, awaiting_gates=(), roles=[role])}


@pytest.mark.requirement("PROD-RELEASE", "P11-10g")
async def test_qa_releases_an_oos_dose_only_after_the_physician_asks(harness: Harness) -> None:
    handle, dev = await harness.with_oos_dose()
    rec = await harness.record(handle)
    assert dev.kind == DeviationKind.OUT_OF_SPECIFICATION and dev.results == ("dose_vg",)
    assert dev.deviation_id in _offered(rec, Role.PHYSICIAN) & _offered(rec, Role.QA)

    unasked = await harness.refusal(
        handle, dev.deviation_id, DecisionAction.EXCEPTIONAL_RELEASE, reason="QA alone"
    )
    assert "needs the requesting physician's signed request first" in unasked
    disposing = await harness.refusal(
        handle, dev.deviation_id, DecisionAction.ABANDON, reason="stop", **PHYSICIAN
    )
    assert "a physician may request exceptional release of a deviation; QA disposes" in disposing
    silent = await harness.refusal(handle, dev.deviation_id, ER, reason=" ", **PHYSICIAN)
    assert "needs the clinical justification" in silent

    await harness.request_exceptional_release(handle, dev.deviation_id, "no other therapy left")
    rec = await harness.record(handle)
    assert rec.deviations[0].is_open, "a request decides nothing"
    (request,) = [s for s in rec.signatures if s.role == Role.PHYSICIAN]
    assert (request.meaning, request.reason) == (REQUEST_MEANING, "no other therapy left")
    assert rec.audit[-1].action == AuditAction.EXCEPTIONAL_RELEASE_REQUESTED
    assert dev.deviation_id not in _offered(rec, Role.PHYSICIAN)

    await harness.decide(
        handle, dev.deviation_id, DecisionAction.EXCEPTIONAL_RELEASE, reason="benefit > risk"
    )
    await harness.until_waiting(handle, "decision at release")
    await harness.decide(handle, "release", DecisionAction.APPROVE)
    rec = await harness.finish(handle)
    assert rec.released and rec.exceptional_release


async def test_a_physician_cannot_request_what_the_deviation_does_not_allow(
    harness: Harness,
) -> None:
    handle, dev = await harness.with_exhausted_booking()
    assert dev.kind == DeviationKind.RETRIES_EXHAUSTED
    refused = await harness.refusal(handle, dev.deviation_id, ER, reason="x", **PHYSICIAN)
    assert "cannot be released exceptionally" in refused
    await handle.cancel()
    await harness.finish(handle)
