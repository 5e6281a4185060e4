"""Installation qualification against a real dev server and worker: every check passes on a
sound installation, the report is written, and each finding is named when it is not sound."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from definitions import CATALOG
from tests.approving import approve_all
from tests.realserver.conftest import Cluster
from vein2vein.cli import run_command
from vein2vein.keys import deployment_signing_key
from vein2vein.settings import Settings

pytestmark = pytest.mark.realserver


@pytest.mark.requirement("A11-4", "P11-10a")
async def test_validate_passes_a_sound_installation_and_names_each_finding(
    cluster: Cluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(data_dir=cluster.root)
    key = deployment_signing_key(settings)
    cluster.start_worker()  # registers the search attributes, creates the ledger
    await cluster.worker_ready()
    with cluster.ledger() as ledger:
        approve_all(ledger, key, CATALOG.values())
    cluster.root.chmod(0o700)
    monkeypatch.setenv("VEIN2VEIN_DATA_DIR", str(cluster.root))
    monkeypatch.setenv("TEMPORAL_ADDRESS", cluster.address)
    monkeypatch.setenv("COLUMNS", "200")
    report = tmp_path / "iq.json"

    validate = ["validate", "--report", str(report)]
    assert await asyncio.to_thread(run_command, validate) == 0, capfd.readouterr()
    checks = {c["name"]: c for c in json.loads(report.read_text())["checks"]}
    assert all(c["ok"] for c in checks.values()), checks
    assert {"ledger triggers", "key files", "temporal", "search attributes"} <= set(checks)
    assert {"definition lock", "definition approvals", "package temporalio"} <= set(checks)

    settings.signing_key_file.chmod(0o644)
    with cluster.ledger() as ledger, ledger.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER ledger_entries_no_delete"))
    capfd.readouterr()
    assert await asyncio.to_thread(run_command, validate) == 1
    err = capfd.readouterr().err
    assert "installation qualification failed: ledger triggers, key files" in err
    failed = {c["name"]: c["detail"] for c in json.loads(report.read_text())["checks"]}
    assert "ledger_entries_no_delete" in failed["ledger triggers"]
    assert "signing.key is 0644" in failed["key files"]
