"""Replay of committed batch histories: a change to the interpreter that would alter recorded
behaviour fails here. Re-record with VEIN2VEIN_RECORD_HISTORIES=1 only for a new history."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from definitions import CATALOG
from tests.harness import Harness
from tests.history_qa import QA_SCENARIOS
from tests.history_scenarios import SCENARIOS as PATHS
from tests.history_versions import VERSION_SCENARIOS
from tests.products import TEST_PRODUCTS
from vein2vein.workflow_runner import batch_runner
from workflows.codec import EncryptionCodec, data_converter
from workflows.registry import workflow_type

HISTORIES = Path(__file__).parent / "histories"
SCENARIOS = {**PATHS, **VERSION_SCENARIOS, **QA_SCENARIOS}


def _replayer() -> Replayer:
    # The converter a deployment with encrypted payloads runs: the committed histories predate
    # encryption, so the codec must pass their plain payloads through.
    codec = EncryptionCodec({"replay": bytes(32)}, "replay")
    return Replayer(
        workflows=[workflow_type(p) for p in [*CATALOG, *TEST_PRODUCTS]],
        data_converter=data_converter(codec),
        workflow_runner=batch_runner(),
        # The deadlock detector (2 s of CPU per activation) judges the machine's speed, not
        # determinism: on a loaded machine a first sandbox's schema building tripped it.
        debug_mode=True,
    )


@pytest.mark.requirement("P11-10a", "A11-4")
async def test_committed_histories_replay_without_nondeterminism() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert len(files) >= len(SCENARIOS), "committed histories are missing"
    replayer = _replayer()
    for path in files:
        history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


@pytest.mark.skipif(
    not os.environ.get("VEIN2VEIN_RECORD_HISTORIES"), reason="records new histories on demand"
)
async def test_record_histories(harness: Harness) -> None:
    """Record every scenario named in VEIN2VEIN_RECORD_HISTORIES (comma list, or 'all' for
    those not yet committed)."""
    wanted = os.environ["VEIN2VEIN_RECORD_HISTORIES"]
    names = [n for n in SCENARIOS if not (HISTORIES / f"{n}.json").exists()]
    if wanted != "all":
        names = wanted.split(",")
    HISTORIES.mkdir(exist_ok=True)
    for name in names:
        handle = await SCENARIOS[name](harness)
        history = await handle.fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())
