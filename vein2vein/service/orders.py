"""Which batch each treatment order started: one batch per order, and nothing about the patient.

The patient's pseudonym stays with the treatment centre's order; vein2vein keeps only the
order id, the batch id and who started it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from vein2vein.service.db import open_database, orders


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
