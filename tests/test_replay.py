"""Replay of committed batch histories: a change to the interpreter that would alter recorded
behaviour fails here. Re-record with VEIN2VEIN_RECORD_HISTORIES=1 only for a new history."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import Fault
from definitions import AUTOLOGOUS_CD19_CAR_T as CAR_T
from definitions import CATALOG
from tests.harness import Harness
from tests.products import TEST_PRODUCTS
from worker import PASSTHROUGH
from workflows.model import DecisionAction, DeviationKind
from workflows.registry import workflow_type

HISTORIES = Path(__file__).parent / "histories"


def _replayer() -> Replayer:
    return Replayer(
        workflows=[workflow_type(p) for p in [*CATALOG, *TEST_PRODUCTS]],
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
    )


async def test_committed_histories_replay_without_nondeterminism() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert len(files) >= 2, "committed histories are missing"
    replayer = _replayer()
    for path in files:
        history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


@pytest.mark.skipif(
    not os.environ.get("VEIN2VEIN_RECORD_HISTORIES"), reason="records new histories on demand"
)
async def test_record_histories(harness: Harness) -> None:
    HISTORIES.mkdir(exist_ok=True)
    happy = await harness.start(CAR_T)
    await harness.release(happy)
    await harness.finish(happy)
    deviated = await harness.start(
        CAR_T, faults=[Fault(kind="temperature_excursion", step="receipt_at_site")]
    )
    rec = await harness.advance_until(deviated, lambda r: bool(r.deviations))
    dev = rec.deviations[0]
    assert dev.kind == DeviationKind.TEMPERATURE_EXCURSION
    await harness.decide(deviated, dev.deviation_id, DecisionAction.ABANDON, reason="excursion")
    await harness.finish(deviated)
    for name, handle in (("car_t_completed", happy), ("car_t_excursion_abandoned", deviated)):
        history = await handle.fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())
