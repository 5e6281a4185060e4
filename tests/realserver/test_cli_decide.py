"""An operator decides a gate from the command line: password asked again, name from the user
store, signed with the deployment key, accepted by the workflow; a wrong password is refused."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from tests.harness import order
from tests.realserver.conftest import Cluster
from tests.realserver.products import RELAY
from tests.service.support import own_password
from vein2vein.cli import app
from vein2vein.keys import deployment_signing_key
from vein2vein.service.admin import ensure_demo_users
from vein2vein.service.identity import Identity
from vein2vein.settings import Settings
from workflows.client import start_batch

pytestmark = pytest.mark.realserver


@pytest.mark.requirement("P11-200", "P11-300", "A11-14")
async def test_cli_decide_reauthenticates_and_signs(cluster: Cluster) -> None:
    deployment_signing_key(Settings(data_dir=cluster.root))  # made and registered, as on first run
    cluster.start_worker()
    await cluster.worker_ready()
    settings = Settings(data_dir=cluster.root)
    identity = Identity.open(settings.ledger, settings.data_dir)
    ensure_demo_users(identity)
    own_password(identity, "qa")  # a published password must be replaced before signing
    handle = await start_batch(await cluster.client(), RELAY, order())
    await cluster.until_waiting(handle.id, "decision at approve")
    env = {
        "TEMPORAL_ADDRESS": cluster.address,
        "VEIN2VEIN_DATA_DIR": str(cluster.root),
        "COLUMNS": "200",
    }
    args = ["batch", "decide", handle.id, "approve", "approve", "--signer", "qa", "--role", "qa"]
    runner = CliRunner()
    wrong = await asyncio.to_thread(runner.invoke, app, args, env=env, input="not-it\n")
    assert wrong.exit_code == 1 and "signature refused" in wrong.output
    right = await asyncio.to_thread(runner.invoke, app, args, env=env, input="vein2vein-qa\n")
    assert right.exit_code == 0, right.output
    # The status after the batch acted on the decision, not the one at acceptance.
    assert "approve recorded on approve; status completed" in right.output
    rec = await cluster.until(handle.id, lambda r: r.completed, "completed")
    assert [s.printed_name for s in rec.signatures] == ["Quinn Assurance"]
