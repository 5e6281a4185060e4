"""Records outlive Temporal: a closed batch whose history Temporal deleted still exports whole."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError
from typer.testing import CliRunner

from records import load_record, render_html
from tests.realserver.conftest import Cluster, eventually
from tests.realserver.products import RELAY
from vein2vein.cli import app
from workflows.model import BatchStatus, DecisionAction

pytestmark = pytest.mark.realserver


@pytest.mark.requirement("P11-10c")
async def test_record_exports_from_ledger_after_history_is_deleted(cluster: Cluster) -> None:
    cluster.start_worker()
    await cluster.worker_ready()
    batch_id = await cluster.start(RELAY)
    await cluster.until_waiting(batch_id, "decision at approve")
    await cluster.decide(batch_id, "approve", DecisionAction.APPROVE)
    await cluster.outcome(batch_id)
    live = await cluster.record(batch_id)
    client = await cluster.client()
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=batch_id)
        )
    )

    async def gone() -> bool:
        try:
            await cluster.handle(batch_id).describe()
        except RPCError:
            return True
        return False

    await eventually(gone, lambda g: g, what="history deleted")

    with cluster.ledger() as ledger:
        rebuilt = load_record(ledger, batch_id)
        assert ledger.verify(batch_id).ok
    assert rebuilt.status == BatchStatus.COMPLETED
    assert rebuilt.coi == live.coi
    assert [s.signature_id for s in rebuilt.signatures] == [s.signature_id for s in live.signatures]
    assert len(rebuilt.audit) == len(live.audit)
    assert "Ada Quality" in render_html(rebuilt)

    out = cluster.root / "ebr.json"
    result = CliRunner().invoke(
        app,
        ["record", "export", batch_id, "--format", "json", "--out", str(out)],
        env={"VEIN2VEIN_LEDGER_URL": f"sqlite:///{cluster.root / 'ledger.db'}"},
    )
    assert result.exit_code == 0, result.output
    assert batch_id in out.read_text()
