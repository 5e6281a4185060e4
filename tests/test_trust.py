"""Only the deployment's keys sign: a key named in the start input is never trusted, and the
worker's key registry (rotation, revocation) decides which signatures a batch accepts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from tests.harness import Harness, order
from tests.products import FLAKY_BOOKING
from vein2vein import keys
from vein2vein.settings import Settings
from workflows import keyring
from workflows.client import TASK_QUEUE, new_batch_id
from workflows.client import decide as submit
from workflows.keyring import KeyRegistry
from workflows.model import (
    AwaitKind,
    BatchOrder,
    BatchStart,
    BatchStatus,
    DecisionAction,
    Role,
)
from workflows.signatures import SigningKey


@pytest.fixture
def session_registry(signing_key: SigningKey) -> Iterator[KeyRegistry]:
    """The registry the session's workers trust; whatever a test installs is undone after."""
    previous = keyring.installed()
    yield previous
    keyring.install(previous)


async def _refusal(harness: Harness, handle: WorkflowHandle[Any, Any], key: SigningKey) -> str:
    d = await harness.sign(handle, "approve", DecisionAction.APPROVE, role=Role.QA, key=key)
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await submit(harness.client, handle.id, d)
    return str(info.value.cause)


async def test_a_key_named_in_the_start_input_is_not_trusted(harness: Harness) -> None:
    foreign = SigningKey.generate("k-foreign")
    # Started directly on Temporal, as anyone who can reach it could, naming their own key.
    start = BatchStart(
        batch_id=new_batch_id(),
        order=BatchOrder.of(order()),
        definition=FLAKY_BOOKING.model_dump(mode="json"),
        trusted_keys={foreign.key_id: foreign.public_hex()},
    )
    handle = await harness.client.start_workflow(
        FLAKY_BOOKING.product, start, id=start.batch_id, task_queue=TASK_QUEUE
    )
    await harness.until_waiting(handle, "decision at approve")

    reason = await _refusal(harness, handle, foreign)

    assert "signature key 'k-foreign' is not trusted by this deployment" in reason
    rec = await harness.record(handle)
    assert [(a.kind, a.target) for a in rec.awaiting] == [(AwaitKind.DECISION, "approve")]
    assert not rec.signatures and rec.status == BatchStatus.ACTIVE
    # The deployment's own key still decides the same gate.
    await harness.decide(handle, "approve", DecisionAction.APPROVE)
    assert (await harness.finish(handle)).status == BatchStatus.COMPLETED


@pytest.fixture
def rotated(
    tmp_path: Path, session_registry: KeyRegistry
) -> Iterator[tuple[Settings, keys.RegistryWatcher]]:
    """A fresh deployment (first run: a signing key, registered) whose registry file the
    session's worker trusts, loaded by the worker's own watcher."""
    settings = Settings(data_dir=tmp_path)
    keys.bootstrap(settings)
    watcher = keys.RegistryWatcher(settings.trusted_keys_file)
    watcher.load()
    yield settings, watcher


async def test_revoked_key_is_refused_and_rotated_in_key_accepted(
    harness: Harness, rotated: tuple[Settings, keys.RegistryWatcher]
) -> None:
    settings, watcher = rotated
    old = keys.deployment_signing_key(settings)
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    now = await harness.env.get_current_time()

    new = keys.rotate(settings)
    assert keys.deployment_signing_key(settings).key_id == new.key_id
    keys.update_registry(
        settings.trusted_keys_file, lambda r: keys.with_revocation(r, old.key_id, now)
    )
    assert watcher.check(), "the worker reloads the changed registry"

    assert f"signature key {old.key_id!r} was not valid when it signed" in await _refusal(
        harness, handle, old
    )
    assert f"{harness.key.key_id!r} is not trusted" in await _refusal(harness, handle, harness.key)
    receipt = await harness.decide(handle, "approve", DecisionAction.APPROVE, key=new)
    assert receipt.action == DecisionAction.APPROVE


async def test_rotation_keeps_the_old_key_trusted(
    harness: Harness, rotated: tuple[Settings, keys.RegistryWatcher]
) -> None:
    settings, watcher = rotated
    old = keys.deployment_signing_key(settings)
    keys.rotate(settings)
    assert watcher.check()
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    receipt = await harness.decide(handle, "approve", DecisionAction.APPROVE, key=old)
    assert receipt.action == DecisionAction.APPROVE


@pytest.mark.requirement("P11-100")
async def test_the_signature_records_the_key_that_verified_it(harness: Harness) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    await harness.decide(handle, "approve", DecisionAction.APPROVE)
    rec = await harness.record(handle)
    assert [s.key_id for s in rec.signatures] == [harness.key.key_id]


def test_registry_validity_window() -> None:
    key = SigningKey.generate("k-window")
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    registry = keys.with_revocation(
        keys.with_key(KeyRegistry(), key.key_id, key.public_hex(), valid_from=t0),
        key.key_id,
        t0 + timedelta(days=1),
    )
    trusted = registry.keys[key.key_id]
    assert not trusted.valid_at(t0 - timedelta(seconds=1))
    assert trusted.valid_at(t0) and trusted.valid_at(t0 + timedelta(hours=23))
    assert not trusted.valid_at(t0 + timedelta(days=1))
