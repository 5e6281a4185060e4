"""A call's heartbeats on the real dev server: a call lost with its worker is tried again soon
after they stop, and a slow call on a live worker, however loaded, is never tried twice.

`workflows.policy.CALL_HEARTBEAT_TIMEOUT` trades the two against each other: shorter gets the
batches a dead worker held moving sooner (README, Performance), but a live worker too starved
to heartbeat in time would see its call run again. Both sides are tested here, the second with
every core kept busy beside the worker.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.realserver.conftest import Cluster, eventually
from tests.realserver.products import PATIENT_CALL
from workflows.client import new_batch_id
from workflows.model import BatchOutcome, BatchStatus
from workflows.policy import CALL_HEARTBEAT_TIMEOUT

pytestmark = pytest.mark.realserver

HEARTBEAT_SECONDS = CALL_HEARTBEAT_TIMEOUT.total_seconds()


def _spin() -> None:
    while True:
        pass


@contextmanager
def busy_cores() -> Iterator[None]:
    """Every core kept busy by a process of its own, at the worker's priority."""
    ctx = multiprocessing.get_context("spawn")
    hogs = [ctx.Process(target=_spin, daemon=True) for _ in range(os.cpu_count() or 2)]
    for hog in hogs:
        hog.start()
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.join()


def _slow_worker(cluster: Cluster, batch_id: str, seconds: float) -> None:
    """The real worker, lingering `seconds` inside `batch_id`'s booking after its effect."""
    cluster.start_worker(
        "tests.realserver.slow_worker",
        RS_SLOW_ACTIVITY="book_slot",
        RS_SLOW_BATCHES=batch_id,
        RS_SLOW_SECONDS=str(seconds),
    )


async def test_a_call_lost_with_its_worker_is_tried_again_when_its_heartbeats_stop(
    cluster: Cluster,
) -> None:
    """A call allowed half an hour whose worker dies mid-call is tried again on the new worker
    once its heartbeats stop: the batch finishes in well under its call's timeout."""
    batch_id = new_batch_id()
    _slow_worker(cluster, batch_id, 3600)
    await cluster.worker_ready()
    await cluster.start(PATIENT_CALL, batch_id=batch_id)
    world = cluster.world()
    key = f"{batch_id}:book_slot:book_slot:i1r0"

    async def acted() -> int:
        return world.calls(key)

    await eventually(acted, lambda n: n == 1, what="book_slot acted")
    assert cluster.kill_worker(signal.SIGKILL) == -signal.SIGKILL
    killed = time.monotonic()

    cluster.start_worker()
    await cluster.worker_ready()
    # Half an hour would pass before the call's own timeout; two minutes is ample margin over
    # the heartbeat timeout on a loaded machine.
    outcome = BatchOutcome.model_validate(await cluster.outcome(batch_id, timeout=120))
    assert outcome.status == BatchStatus.COMPLETED, outcome
    assert world.calls(key) == 2, "the lost call was tried again once"
    assert world.effects("book_slot") == {key: 1}, "and acted once"
    print(f"batch done {time.monotonic() - killed:.1f} s after the kill")


async def test_a_slow_call_on_a_busy_live_worker_runs_once(cluster: Cluster) -> None:
    """A call that lingers three heartbeat timeouts on a live worker while every core is busy
    beside it is not taken for lost: its heartbeats arrive, it runs once, the batch ends."""
    batch_id = new_batch_id()
    _slow_worker(cluster, batch_id, 3 * HEARTBEAT_SECONDS)
    await cluster.worker_ready()
    world = cluster.world()
    key = f"{batch_id}:book_slot:book_slot:i1r0"

    with busy_cores():
        await cluster.start(PATIENT_CALL, batch_id=batch_id)
        outcome = BatchOutcome.model_validate(await cluster.outcome(batch_id, timeout=180))
    assert outcome.status == BatchStatus.COMPLETED, outcome
    assert world.calls(key) == 1, "the slow call was taken for lost and run again"
    assert world.effects("book_slot") == {key: 1}
