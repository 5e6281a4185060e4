"""Activities that book slots and allocate doses through the durable entity workflows.

The slot calendar and the inventory are Temporal workflows (`workflows.entities`); these
activities are their only writers, each call keyed so that a retried activity books or
allocates once.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from workflows.entities import (
    CAPACITY_WORKFLOW,
    INVENTORY_WORKFLOW,
    AddLot,
    AllocateRequest,
    Allocation,
    CapacityState,
    InventoryState,
    Slot,
    SlotRequest,
)
from workflows.model import ResultValue, StepCall, StepOutput
from workflows.vocabulary import BusinessError


def capacity_id(site: str) -> str:
    """Workflow id of a site's slot calendar."""
    return f"capacity-{site}"


def inventory_id(product: str) -> str:
    """Workflow id of a product's inventory."""
    return f"inventory-{product}"


def _now() -> datetime:
    # The server's clock, not this host's: under time-skipping tests the two differ by weeks.
    return activity.info().current_attempt_scheduled_time


class EntityActivities:
    """Slot and inventory activities bound to a Temporal client and task queue."""

    def __init__(self, client: Client, task_queue: str, lanes: dict[str, int] | None = None):
        self._client = client
        self._task_queue = task_queue
        self._lanes = lanes or {}

    async def _update(
        self,
        wf_id: str,
        start: tuple[str, Any],
        update: str,
        arg: Any,
        result_type: type,
        refusal: BusinessError,
    ) -> Any:
        await self._client.start_workflow(
            start[0],
            start[1],
            id=wf_id,
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        handle = self._client.get_workflow_handle(wf_id)
        try:
            return await handle.execute_update(update, arg, result_type=result_type)
        except WorkflowUpdateFailedError as err:
            raise ApplicationError(str(err.cause or err), type=refusal, non_retryable=True) from err

    def _slot_request(self, call: StepCall, earliest: datetime | None = None) -> SlotRequest:
        lead = timedelta(days=float(call.params.get("lead_days", "2")))
        days = int(call.params.get("days", "14"))
        after = timedelta(days=float(call.params.get("return_days", "7")))
        start = max(earliest or _now() + lead, (call.window_start or _now()) - timedelta(days=60))
        latest = (
            call.window_end - timedelta(days=days) - after
            if call.window_end
            else start + timedelta(days=30)
        )
        return SlotRequest(
            key=f"{call.batch_id}:slot",
            batch_id=call.batch_id,
            earliest=start,
            latest=latest,
            days=days,
        )

    async def book(self, call: StepCall) -> StepOutput:
        """Book a slot inside the treatment window, after the collection lead time."""
        state = CapacityState(site=call.site, lanes=self._lanes.get(call.site, 4))
        slot: Slot = await self._update(
            capacity_id(call.site),
            (CAPACITY_WORKFLOW, state),
            "book",
            self._slot_request(call),
            Slot,
            BusinessError.NO_CAPACITY,
        )
        return StepOutput(
            data={
                "slot": f"{call.site}/lane{slot.lane}",
                "slot_start": slot.start.isoformat(),
                "slot_end": slot.end.isoformat(),
            }
        )

    async def release(self, call: StepCall) -> StepOutput:
        """Release the batch's slot (compensation)."""
        state = CapacityState(site=call.site, lanes=self._lanes.get(call.site, 4))
        freed: bool = await self._update(
            capacity_id(call.site),
            (CAPACITY_WORKFLOW, state),
            "release",
            f"{call.batch_id}:slot",
            bool,
            BusinessError.NO_CAPACITY,
        )
        return StepOutput(data={"released": str(freed)})

    async def move(self, call: StepCall) -> StepOutput:
        """Move the batch's slot after a rescheduled collection (`params['new_date']`)."""
        state = CapacityState(site=call.site, lanes=self._lanes.get(call.site, 4))
        new_date = datetime.fromisoformat(call.params["new_date"])
        slot: Slot = await self._update(
            capacity_id(call.site),
            (CAPACITY_WORKFLOW, state),
            "move",
            self._slot_request(call, earliest=new_date),
            Slot,
            BusinessError.NO_CAPACITY,
        )
        return StepOutput(data={"slot_start": slot.start.isoformat()})

    async def add_to_inventory(self, call: StepCall) -> StepOutput:
        """Release a lot's doses into its product's inventory (the lot id is the batch COI)."""
        inventory = call.params["inventory"]
        lot = AddLot(
            key=f"{call.batch_id}:lot",
            lot_id=call.coi or call.batch_id,
            doses=int(call.params.get("doses", "1")),
        )
        ids: list[str] = await self._update(
            inventory_id(inventory),
            (INVENTORY_WORKFLOW, InventoryState(product=inventory)),
            "add_lot",
            lot,
            list,
            BusinessError.OUT_OF_STOCK,
        )
        return StepOutput(data={"doses_added": str(len(ids))})

    async def allocate(self, call: StepCall) -> StepOutput:
        """Allocate doses (count fixed, or from a recorded result) to this batch."""
        inventory = call.params["inventory"]
        count_from = call.params.get("count_from")
        count = (
            int(float(call.results[count_from]))
            if count_from
            else int(call.params.get("count", "1"))
        )
        alloc: Allocation = await self._update(
            inventory_id(inventory),
            (INVENTORY_WORKFLOW, InventoryState(product=inventory)),
            "allocate",
            AllocateRequest(key=f"{call.batch_id}:dose", batch_id=call.batch_id, count=count),
            Allocation,
            BusinessError.OUT_OF_STOCK,
        )
        lots = sorted({d.rsplit("-D", 1)[0] for d in alloc.doses})
        return StepOutput(lots=lots, data={"doses": ",".join(alloc.doses)})

    async def give_back(self, call: StepCall) -> StepOutput:
        """Return the batch's allocated doses to stock (compensation)."""
        inventory = call.params["inventory"]
        back: list[str] = await self._update(
            inventory_id(inventory),
            (INVENTORY_WORKFLOW, InventoryState(product=inventory)),
            "give_back",
            f"{call.batch_id}:dose",
            list,
            BusinessError.OUT_OF_STOCK,
        )
        return StepOutput(data={"returned": ",".join(back)})


def calculate_dose(call: StepCall) -> StepOutput:
    """Weight-based dose: `dose_per_kg` x weight, and the vials of `per_vial` it takes."""
    if call.weight_kg is None:
        raise ApplicationError(
            "the order has no body weight", type=BusinessError.NOT_ELIGIBLE, non_retryable=True
        )
    dose = float(call.params["dose_per_kg"]) * call.weight_kg
    vials = math.ceil(dose / float(call.params["per_vial"]))
    return StepOutput(
        results={
            "dose_vg": ResultValue(value=round(dose, 1), unit="vg", method="weight-based"),
            "vials_needed": ResultValue(value=float(vials), unit="vials", method="weight-based"),
        }
    )
