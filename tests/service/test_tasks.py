"""Tasks handed to an external system, completed or failed through the API by opaque task id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities import Activities, SimulatedWorld
from records.external_tasks import register_external_task
from tests.harness import Harness
from tests.service.support import Client, key, make_token
from vein2vein.settings import Settings
from workflows.model import StepCall, StepOutput

QUEUE = "service-tests-external"
handed: dict[str, str] = {}


@workflow.defn(name="service-test-external-task")
class HandOut:
    """Runs one activity that an outside system completes."""

    @workflow.run
    async def run(self, batch_id: str) -> str:
        call = StepCall(
            batch_id=batch_id,
            product="p",
            step="book_courier",
            activity="hand_to_external",
            idempotency_key=f"{batch_id}:book_courier",
            site_role="courier",
            site="COURIER-CRYO",
            order_id="O-1",
        )
        try:
            out = await workflow.execute_activity(
                "hand_to_external",
                call,
                result_type=StepOutput,
                start_to_close_timeout=timedelta(days=10),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            cause = err.cause
            assert isinstance(cause, ApplicationError)
            return f"failed {cause.type}: {cause.message}"
        return f"done {out.data} {sorted(out.results)}"


@pytest.fixture(scope="module")
async def worker(harness: Harness, service_settings: Settings) -> AsyncIterator[None]:
    # The production activity, reporting the task id it hands out through a spying adapter.
    class Spy(SimulatedWorld):
        async def perform(self, call: StepCall) -> StepOutput:
            handed[call.batch_id] = call.params["task_id"]
            return await super().perform(call)

    acts = Activities(
        adapter_for=lambda _site: Spy(seed=3),
        ledger=harness.ledger,
        client=harness.client,
        task_queue=QUEUE,
        task_db_url=service_settings.ledger,
    )
    async with Worker(
        harness.client,
        task_queue=QUEUE,
        workflows=[HandOut],
        activities=[a for a in acts.all() if a.__name__ == "hand_to_external"],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield


async def _handed(harness: Harness, batch_id: str) -> tuple[object, str]:
    handle = await harness.client.start_workflow(
        HandOut.run, batch_id, id=f"ext-{batch_id}", task_queue=QUEUE
    )
    for _ in range(200):
        if batch_id in handed:
            return handle, handed[batch_id]
        await asyncio.sleep(0.05)
    raise AssertionError("the activity never registered its task")


async def test_complete_by_opaque_task_id_once(
    worker: None, harness: Harness, client: Client, service_settings: Settings
) -> None:
    handle, task_id = await _handed(harness, "B-TASKDONE01")
    assert task_id.startswith("T-") and len(task_id) < 60
    http = await client(token=make_token(service_settings, "courier-t", ["tasks"]))
    body = {"results": {"pickup_eta_h": {"value": 4, "unit": "h"}}, "data": {"awb": "123"}}
    k = key()
    r = await http.post(f"/api/tasks/{task_id}/complete", json=body, headers={"Idempotency-Key": k})
    assert r.status_code == 200 and r.json() == {"task_id": task_id, "state": "completed"}
    assert await handle.result() == "done {'awb': '123'} ['pickup_eta_h']"  # type: ignore[attr-defined]
    again = await http.post(
        f"/api/tasks/{task_id}/complete", json=body, headers={"Idempotency-Key": k}
    )
    assert again.json() == r.json() and again.headers["Idempotent-Replayed"] == "true"
    twice = await http.post(
        f"/api/tasks/{task_id}/complete", json=body, headers={"Idempotency-Key": key()}
    )
    assert twice.status_code == 409 and "already completed" in twice.json()["detail"]


async def test_fail_as_business_refusal(
    worker: None, harness: Harness, client: Client, service_settings: Settings
) -> None:
    handle, task_id = await _handed(harness, "B-TASKFAIL01")
    http = await client(token=make_token(service_settings, "courier-f", ["tasks"]))
    r = await http.post(
        f"/api/tasks/{task_id}/fail",
        json={"message": "no driver available", "business": True},
        headers={"Idempotency-Key": key()},
    )
    assert r.status_code == 200 and r.json()["state"] == "failed"
    assert await handle.result() == "failed BusinessFailure: no driver available"  # type: ignore[attr-defined]
    r = await http.post(
        f"/api/tasks/{task_id}/complete", json={}, headers={"Idempotency-Key": key()}
    )
    assert r.status_code == 409


async def test_unknown_and_malformed_task_ids(client: Client, service_settings: Settings) -> None:
    http = await client(token=make_token(service_settings, "courier-u", ["tasks"]))
    r = await http.post(
        "/api/tasks/T-nosuchtask0000000000/complete", json={}, headers={"Idempotency-Key": key()}
    )
    assert r.status_code == 404
    r = await http.post(
        "/api/tasks/raw-token/complete", json={}, headers={"Idempotency-Key": key()}
    )
    assert r.status_code == 422
    r = await http.post(
        "/api/tasks/T-nosuchtask0000000000/fail", json={}, headers={"Idempotency-Key": key()}
    )
    assert r.status_code == 422, "a failure needs a message"


def test_registering_the_same_token_twice_gives_the_same_id(service_settings: Settings) -> None:
    url = service_settings.ledger
    first = register_external_task(url, b"token-bytes-1", "B-X", "s")
    assert register_external_task(url, b"token-bytes-1", "B-X", "s") == first
    assert register_external_task(url, b"token-bytes-2", "B-X", "s") != first
