"""Approval before use: a batch starts (API, CLI, demo) only on a definition version QA
approved with an electronic signature, from its effective date until it is retired; the
approval, its signature and the diff from the version before are in the ledger."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from records import Ledger
from records.approvals import Approvals
from tests.approving import SINCE, approve_all, approver_signature
from tests.conftest import new_ledger
from tests.harness import Harness
from tests.products import FLAKY_BOOKING, REPORTED_BY_HAND
from tests.service.support import own_password
from vein2vein.approvals import approve
from vein2vein.cli import app
from vein2vein.demo_time import at_speed
from vein2vein.service.admin import ensure_demo_users
from vein2vein.service.identity import Identity
from workflows.definition import recompiled
from workflows.signatures import SigningKey

runner = CliRunner()


async def _cli(args: list[str], env: dict[str, str], stdin: str | None = None):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(runner.invoke, app, args, env=env, input=stdin)


@pytest.mark.requirement("P11-10k", "PROD-APPROVAL", "P11-50")
async def test_a_batch_starts_only_on_an_approved_version_in_use(
    harness: Harness, tmp_path: Path
) -> None:
    records_url = f"sqlite:///{tmp_path / 'records.db'}"
    identity = Identity.open(records_url, tmp_path)
    ensure_demo_users(identity)
    own_password(identity, "qa")  # a published password must be replaced before signing
    env = {
        "TEMPORAL_ADDRESS": harness.client.service_client.config.target_host,
        "VEIN2VEIN_DATA_DIR": str(tmp_path),
        "VEIN2VEIN_LEDGER_URL": records_url,
        "VEIN2VEIN_DEFINITIONS": "tests.products:TEST_PRODUCTS",
        "VEIN2VEIN_DEFINITION_LOCK": str(tmp_path / "lock.json"),
        "COLUMNS": "200",
    }
    qa = ["--signer", "qa", "--role", "qa"]

    def start(order_id: str, product: str = FLAKY_BOOKING.product) -> list[str]:
        return ["batch", "start", product, "--order-id", order_id, "--pseudonym", "PSN-APPR-01"]

    refused = await _cli(start("O-APPR-1"), env)
    assert refused.exit_code == 1
    assert "test-flaky-booking 1 is not approved for use" in refused.output

    assert (await _cli(["definitions", "lock"], env)).exit_code == 0
    approved = await _cli(
        ["definitions", "approve", FLAKY_BOOKING.product, *qa, "--reason", "CR-101 reviewed"],
        env,
        stdin="vein2vein-qa\n",
    )
    assert approved.exit_code == 0, approved.output
    assert "test-flaky-booking 1 approved by Quinn Assurance" in approved.output
    started = await _cli(start("O-APPR-1"), env)
    assert started.exit_code == 0, started.output
    handle = harness.client.get_workflow_handle(started.output.strip())
    listed = await _cli(["definitions", "approvals", FLAKY_BOOKING.product], env)
    assert "in use" in listed.output and FLAKY_BOOKING.content_hash[:12] in listed.output

    operator = await _cli(
        [
            "definitions",
            "retire",
            FLAKY_BOOKING.product,
            "1",
            "--signer",
            "operator",
            "--role",
            "operator",
            "--reason",
            "no",
        ],
        env,
    )
    assert operator.exit_code == 1 and "may not retire" in operator.output
    retired = await _cli(
        ["definitions", "retire", FLAKY_BOOKING.product, "1", *qa, "--reason", "superseded"],
        env,
        stdin="vein2vein-qa\n",
    )
    assert retired.exit_code == 0, retired.output
    again = await _cli(start("O-APPR-2"), env)
    assert again.exit_code == 1
    assert "retired by Quinn Assurance: superseded" in again.output

    later = await _cli(
        [
            "definitions",
            "approve",
            REPORTED_BY_HAND.product,
            *qa,
            "--reason",
            "CR-102",
            "--effective",
            "2100-01-01",
        ],
        env,
        stdin="vein2vein-qa\n",
    )
    assert later.exit_code == 0, later.output
    early = await _cli(start("O-APPR-3", REPORTED_BY_HAND.product), env)
    assert early.exit_code == 1 and "is approved from 2100-01-01" in early.output

    # The approvals are a hash chain of the ledger like any batch's trail.
    verified = await _cli(["ledger", "verify", "--batch", "DEF-test-flaky-booking"], env)
    assert verified.exit_code == 0 and "ok 1 batch(es), 2 entries" in verified.output
    await handle.cancel()
    await harness.finish(handle)


@pytest.mark.requirement("P11-10k", "PROD-APPROVAL")
def test_an_approval_keeps_the_definition_and_its_diff(
    tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey
) -> None:
    with new_ledger(tmp_path_factory) as ledger:  # its own: the diff is from the one before
        _approval_keeps_the_definition_and_its_diff(ledger, signing_key)


def _approval_keeps_the_definition_and_its_diff(ledger: Ledger, signing_key: SigningKey) -> None:
    first = at_speed(FLAKY_BOOKING, 1)
    approvals = Approvals(ledger)
    approve_all(ledger, signing_key, [first])
    second = recompiled(
        at_speed(FLAKY_BOOKING, 2, floor=timedelta(seconds=1)), version="2-diff-test"
    )
    signature = approver_signature(signing_key, second, "CR-103: faster receipt")

    done = approve(approvals, second, signature, SINCE, [first, second])

    assert done.diff is not None and '-     "deadline": "P3D"' in done.diff
    assert '+     "deadline": "P1DT12H"' in done.diff
    assert approvals.definition(second.product, second.version) == second
    now = datetime.now(UTC)
    assert approvals.refusal(second, now) is None
    tampered = recompiled(second, title="changed after approval")
    assert "differs from the approved content" in (approvals.refusal(tampered, now) or "")
