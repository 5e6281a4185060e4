"""Which batch each treatment order started: one batch per order, and nothing about the patient.

The patient's pseudonym stays with the treatment centre's order; vein2vein keeps only the
order id, the batch id and who started it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from temporalio.client import Client, WorkflowHandle

from records.approvals import Approvals
from vein2vein.service.db import open_database, orders
from workflows.client import new_batch_id, start_batch
from workflows.definition import CompiledDefinition
from workflows.model import Order


class NotApproved(Exception):
    """The definition version may not start batches (not approved, not yet effective,
    retired, or different from what was approved); the message says which."""


class OrderTaken(Exception):
    """The order already started a batch: one batch per treatment order."""

    def __init__(self, order_id: str, batch_id: str) -> None:
        super().__init__(f"order {order_id} already started batch {batch_id}")
        self.order_id = order_id
        self.batch_id = batch_id


class OrderStore:
    """order id -> batch id."""

    def __init__(self, db_url: str) -> None:
        self._engine: Engine = open_database(db_url)

    def batch_of(self, order_id: str) -> str | None:
        """The batch `order_id` started, or None."""
        with self._engine.connect() as conn:
            found = conn.scalar(select(orders.c.batch_id).where(orders.c.order_id == order_id))
        return None if found is None else str(found)

    def claim(self, order_id: str, batch_id: str, product: str, by: str) -> str | None:
        """Reserve `order_id` for `batch_id`; returns the other batch if already taken."""
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    orders.insert().values(
                        order_id=order_id,
                        batch_id=batch_id,
                        product=product,
                        started_at=datetime.now(UTC).isoformat(),
                        started_by=by,
                    )
                )
        except IntegrityError:
            return self.batch_of(order_id) or "another batch"
        return None

    def release(self, order_id: str, batch_id: str) -> None:
        """Forget a reservation whose batch could not be started."""
        with self._engine.begin() as conn:
            conn.execute(
                orders.delete().where(orders.c.order_id == order_id, orders.c.batch_id == batch_id)
            )

    def batch_ids(self) -> list[str]:
        """Every batch started through the service."""
        with self._engine.connect() as conn:
            return [str(b) for b in conn.scalars(select(orders.c.batch_id))]


async def start_order(
    client: Client,
    store: OrderStore,
    definition: CompiledDefinition,
    order: Order,
    *,
    by: str,
    approvals: Approvals | None,
    batch_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start the one batch of `order`: check the definition version is approved and in use
    (unless `approvals` is None: approval not required here), claim the order id, then start
    the workflow; a start that fails gives the claim back. Raises `NotApproved` or
    `OrderTaken`, starting nothing. Every way in (API, CLI, demo) starts batches here."""
    if approvals is not None:
        refused = approvals.refusal(definition, datetime.now(UTC))
        if refused is not None:
            raise NotApproved(refused)
    batch_id = batch_id or new_batch_id()
    taken = store.claim(order.order_id, batch_id, definition.product, by)
    if taken is not None:
        raise OrderTaken(order.order_id, taken)
    try:
        return await start_batch(client, definition, order, batch_id=batch_id)
    except BaseException:
        store.release(order.order_id, batch_id)
        raise
