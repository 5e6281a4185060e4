"""The worker's runner answers serialization-context questions directly, without a trip into
the sandbox (`vein2vein.workflow_runner`); its answers must be the SDK's own, for every payload
of a whole batch's history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox._runner import _Instance

from definitions import CATALOG
from vein2vein.workflow_runner import BatchRunner, _DirectContexts, batch_runner
from workflows.codec import EncryptionCodec, data_converter
from workflows.registry import workflow_type

HISTORY = Path(__file__).parent / "histories" / "car_t_completed.json"


class _Compared(_DirectContexts):
    """Answers directly and through the sandbox, and keeps both."""

    seen: list[tuple[Any, Any]] = []

    def get_serialization_context(self, command_info: Any) -> Any:
        direct = super().get_serialization_context(command_info)
        self.seen.append((direct, _Instance.get_serialization_context(self, command_info)))
        return direct

    def get_external_store_context(self, command_info: Any) -> Any:
        direct = super().get_external_store_context(command_info)
        self.seen.append((direct, _Instance.get_external_store_context(self, command_info)))
        return direct


class _ComparingRunner(BatchRunner):
    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _Compared(det, self.runner_class, self.restrictions)


async def test_direct_context_answers_equal_the_sandboxes_over_a_whole_batch() -> None:
    runner = batch_runner()
    comparing = _ComparingRunner(restrictions=runner.restrictions)
    replayer = Replayer(
        workflows=[workflow_type(p) for p in CATALOG],
        data_converter=data_converter(EncryptionCodec({"replay": bytes(32)}, "replay")),
        workflow_runner=comparing,
        debug_mode=True,
    )
    history = WorkflowHistory.from_json(HISTORY.stem, json.loads(HISTORY.read_text()))
    _Compared.seen.clear()
    await replayer.replay_workflow(history)
    assert len(_Compared.seen) > 500, "every payload of the batch asked"
    kinds = {type(direct).__name__ for direct, _ in _Compared.seen}
    assert {"ActivitySerializationContext", "WorkflowSerializationContext"} <= kinds
    assert [pair for pair in _Compared.seen if pair[0] != pair[1]] == []
