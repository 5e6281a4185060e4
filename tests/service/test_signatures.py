"""Electronic signatures through the service: re-authentication, binding, lockout, unlock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from definitions import CATALOG
from tests.harness import Harness
from tests.products import FLAKY_BOOKING, TEST_PRODUCTS
from tests.service.support import BASE, Client, People, key, login
from vein2vein.service import decisions
from vein2vein.service.app import create_app
from vein2vein.service.security import SecurityLog
from vein2vein.settings import Settings
from workflows.client import decide as submit
from workflows.model import BatchRecord, SignedDecision
from workflows.model import Role as R


@pytest.fixture
async def at_gate(harness: Harness) -> WorkflowHandle[Any, Any]:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    return handle


def _decision(password: str, **kw: Any) -> dict[str, Any]:
    return {
        "target": "approve",
        "action": "approve",
        "role": "qa",
        "password": password,
        "reason": "batch record reviewed",
        **kw,
    }


async def _sign(http: httpx.AsyncClient, batch_id: str, body: dict[str, Any]) -> httpx.Response:
    return await http.post(
        f"/api/batches/{batch_id}/decisions", json=body, headers={"Idempotency-Key": key()}
    )


def _log(settings: Settings, user_id: str) -> list[str]:
    entries = SecurityLog(settings.ledger).entries(user_id=user_id)
    return [e.event for e in reversed(entries)]


async def test_signing_reauthenticates_and_records_the_manifestation(
    client: Client, people: People, harness: Harness, at_gate: Any, service_settings: Settings
) -> None:
    qa = people.make(R.QA, name="Quinn Tester")
    http = await client(user=qa)
    k = key()
    body = _decision(qa[1])
    r = await http.post(
        f"/api/batches/{at_gate.id}/decisions", json=body, headers={"Idempotency-Key": k}
    )
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "approve" and r.json()["target"] == "approve"
    replay = await http.post(
        f"/api/batches/{at_gate.id}/decisions", json=body, headers={"Idempotency-Key": k}
    )
    assert replay.json() == r.json() and replay.headers["Idempotent-Replayed"] == "true"
    rec = await harness.record(at_gate)
    (sig,) = rec.signatures
    assert (sig.signer_id, sig.printed_name, sig.role) == (qa[0], "Quinn Tester", R.QA)
    assert sig.meaning == "approval" and sig.reason == "batch record reviewed"
    assert abs(sig.signed_at - await harness.env.get_current_time()) < timedelta(minutes=5)
    assert _log(service_settings, qa[0])[-2:] == ["password.ok", "decision.accepted"]


async def test_three_wrong_passwords_throttle_the_signer_until_an_admin_unlocks(
    client: Client, people: People, harness: Harness, at_gate: Any, service_settings: Settings
) -> None:
    qa = people.make(R.QA)
    http = await client(user=qa)
    answers = [await _sign(http, at_gate.id, _decision("wrong-password")) for _ in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[0].json()["detail"] == "unknown user or wrong password"
    assert "try again in" in answers[3].json()["detail"]
    right = await _sign(http, at_gate.id, _decision(qa[1]))
    assert right.status_code == 429, "no password is checked while throttled"
    assert not (await harness.record(at_gate)).signatures
    assert (await http.get("/api/inbox")).status_code == 200, "the session is not locked"
    fresh = await client()
    login_page = await login(fresh, qa[0], qa[1])
    assert login_page.status_code == 429, "the throttle holds for sign-in too"

    other = await client(user=people.make(R.QA))
    r = await other.post(f"/api/users/{qa[0]}/unlock", headers={"Idempotency-Key": key()})
    assert r.status_code == 403, "only an admin unlocks"
    admin_http = await client(user=people.make(R.ADMIN))
    r = await admin_http.post(f"/api/users/{qa[0]}/unlock", headers={"Idempotency-Key": key()})
    assert r.status_code == 200 and r.json() == {"user_id": qa[0], "unlocked": True}

    assert (await _sign(http, at_gate.id, _decision(qa[1]))).status_code == 200
    assert _log(service_settings, qa[0]) == [
        "user.added",
        "password.ok",  # login
        "session.opened",
        *["password.failed"] * 3,
        "password.throttled",
        "password.throttled",  # the right password, not checked
        "password.throttled",  # login
        "user.unlocked",
        "password.ok",  # signature
        "decision.accepted",
    ]
    log = (await admin_http.get("/api/security-log", params={"user_id": qa[0]})).json()
    unlocked = next(e for e in log if e["event"] == "user.unlocked")
    assert unlocked["actor"].startswith("admin-")


async def test_refused_decisions_are_recorded_with_the_reason(
    client: Client, people: People, harness: Harness, service_settings: Settings
) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.advance_until(handle, lambda r: r.coi is not None)
    qa = people.make(R.QA)
    http = await client(user=qa)
    r = await _sign(http, handle.id, _decision(qa[1]))
    assert r.status_code == 409 and "nothing awaits a decision at 'approve'" in r.json()["detail"]
    r = await _sign(http, handle.id, _decision(qa[1], target="nowhere"))
    assert r.status_code == 404
    log = SecurityLog(service_settings.ledger).entries(user_id=qa[0])
    refused = next(e for e in log if e.event == "decision.refused")
    assert refused.batch_id == handle.id and "nothing awaits" in refused.detail


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[SignedDecision]:
    """Every signed decision the service submits, as it sent it."""
    seen: list[SignedDecision] = []

    async def spy(client: Any, batch_id: str, decision: SignedDecision) -> Any:
        seen.append(decision)
        return await submit(client, batch_id, decision)

    monkeypatch.setattr(decisions, "decide", spy)
    return seen


async def _refusal(harness: Harness, batch_id: str, decision: SignedDecision) -> str:
    handle = harness.client.get_workflow_handle(batch_id)
    before: BatchRecord = await harness.record(handle)
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await submit(harness.client, batch_id, decision)
    assert (await harness.record(handle)).version == before.version
    return str(info.value.cause)


async def test_a_service_signature_cannot_be_moved_reused_or_tampered_with(
    client: Client, people: People, harness: Harness, captured: list[SignedDecision]
) -> None:
    first = await harness.start(FLAKY_BOOKING)
    second = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(first, "decision at approve")
    await harness.until_waiting(second, "decision at approve")
    qa = people.make(R.QA)
    http = await client(user=qa)
    assert (await _sign(http, first.id, _decision(qa[1]))).status_code == 200
    (made,) = captured
    assert made.body.batch_id == first.id and made.body.printed_name.startswith("Test")

    moved = await _refusal(harness, second.id, made)
    assert f"signature is for batch {first.id}" in moved
    rebound = SignedDecision(
        body=made.body.model_copy(update={"batch_id": second.id}), signature=made.signature
    )
    assert "does not match" in await _refusal(harness, second.id, rebound)
    fresh = made.body.model_copy(update={"signature_id": "SIG-forged-0001", "batch_id": second.id})
    assert "does not match" in await _refusal(
        harness, second.id, SignedDecision(body=fresh, signature=made.signature)
    )
    tampered = SignedDecision(
        body=made.body.model_copy(update={"reason": "I did not write this"}),
        signature=made.signature,
    )
    assert "does not match" in await _refusal(harness, second.id, tampered)


async def test_a_signature_over_a_stale_record_version_is_refused(
    client: Client, people: People, harness: Harness, at_gate: Any
) -> None:
    qa = people.make(R.QA)
    http = await client(user=qa)
    stale = "ab" * 32
    r = await _sign(http, at_gate.id, _decision(qa[1], record_hash=stale))
    assert r.status_code == 409 and "another version of the record" in r.json()["detail"]
    current = (await harness.record(at_gate)).record_hash
    r = await _sign(http, at_gate.id, _decision(qa[1], record_hash=current))
    assert r.status_code == 200


async def test_an_expired_signature_is_refused(
    people: People, harness: Harness, at_gate: Any, service_settings: Settings
) -> None:
    async def an_hour_ago() -> datetime:
        return await harness.env.get_current_time() - timedelta(hours=1)

    late_app = create_app(
        service_settings,
        harness.client,
        clock=an_hour_ago,
        key=harness.key,
        catalog={**CATALOG, **TEST_PRODUCTS},
    )
    qa = people.make(R.QA)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=late_app), base_url=BASE) as h:
        assert (await login(h, *qa)).is_redirect
        r = await _sign(h, at_gate.id, _decision(qa[1]))
    assert r.status_code == 409 and "signature expired" in r.json()["detail"]
    assert not (await harness.record(at_gate)).signatures
