"""Lot genealogy in action: a recall holds every affected batch that is not yet infused."""

from __future__ import annotations

import pytest

from definitions import AUTOLOGOUS_CD19_CAR_T as CAR_T
from tests.harness import Harness
from workflows.client import recall_lot
from workflows.model import BatchStatus, DecisionAction, DeviationKind, LotRecall

VECTOR = "LV-CD19-2611-014"


@pytest.mark.requirement("C1271-290")
async def test_recall_holds_batches_not_yet_infused(harness: Harness) -> None:
    infused = await harness.start(CAR_T)
    await harness.release(infused)
    done = await harness.finish(infused)
    assert done.infused and VECTOR in done.lots
    in_process = await harness.start(CAR_T)
    await harness.advance_until(in_process, lambda r: VECTOR in r.lots)

    uses = {u.batch_id: u for u in harness.ledger.where_used(VECTOR)}
    assert {infused.id, in_process.id} <= set(uses)
    assert uses[in_process.id].coi == (await harness.record(in_process)).coi
    recall = LotRecall(
        recall_id="RCL-0001", lot=VECTOR, reason="vector titre OOS", requested_by="qa-ada"
    )
    outcomes = await recall_lot(
        harness.client, [(b, uses[b].coi) for b in (infused.id, in_process.id)], recall
    )
    by_batch = {o.batch_id: o for o in outcomes}
    assert by_batch[in_process.id].held
    assert not by_batch[infused.id].held
    rec = await harness.record(in_process)
    assert rec.status == BatchStatus.QUARANTINED
    dev = next(d for d in rec.deviations if d.kind == DeviationKind.LOT_RECALLED)
    assert VECTOR in dev.description
    # A repeated recall is acknowledged once and opens nothing more.
    again = await recall_lot(harness.client, [(in_process.id, None)], recall)
    assert again[0].held
    assert (
        len(
            [
                d
                for d in (await harness.record(in_process)).deviations
                if d.kind == DeviationKind.LOT_RECALLED
            ]
        )
        == 1
    )
    await harness.decide(
        in_process, dev.deviation_id, DecisionAction.ABANDON, reason="recalled vector"
    )
    rec = await harness.finish(in_process)
    assert rec.status == BatchStatus.ABANDONED
    assert rec.compensations[0] == "allocate_lots: return_lots"
