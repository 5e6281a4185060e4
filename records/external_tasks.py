"""Tasks handed to an external system and completed from outside (async activity completion).

An activity that hands work to an outside system registers its Temporal task token here,
gets an opaque task id back, gives that id to the outside system, and calls
`activity.raise_complete_async()`. The outside system later calls
`POST /api/tasks/{task_id}/complete` or `/fail`; the raw task token never leaves vein2vein.

The store sits here, beside the ledger, so that the activity (which registers) and the HTTP
service (which completes) share it without an activity importing the service. Its table keeps
the name it had when the service owned it, so existing databases carry on.
"""

from __future__ import annotations

import functools
import secrets
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, Engine, LargeBinary, MetaData, Table, Text, select, update
from sqlalchemy.exc import IntegrityError

from records.database import engine_for

#: What a task id looks like (the API refuses anything else before a lookup).
TASK_ID_PATTERN = r"^T-[A-Za-z0-9_-]{16,64}$"

_metadata = MetaData()

tasks = Table(
    "service_tasks",
    _metadata,
    Column("task_id", Text, primary_key=True),
    Column("task_token", LargeBinary, nullable=False, unique=True),
    Column("batch_id", Text, nullable=False),
    Column("step", Text, nullable=False),
    Column("activity", Text, nullable=False, default=""),
    Column("state", Text, nullable=False),  # open | completed | failed
    Column("created_at", Text, nullable=False),
    Column("finished_at", Text, nullable=True),
    Column("finished_by", Text, nullable=True),
)


@functools.cache
def _open(url: str) -> Engine:
    engine = engine_for(url)
    with engine.begin() as conn:
        _metadata.create_all(conn, checkfirst=True)
    return engine


class ExternalTask(BaseModel):
    """One registered task."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    task_token: bytes
    batch_id: str
    step: str
    activity: str
    state: str
    created_at: datetime
    finished_at: datetime | None = None
    finished_by: str | None = None


def register_external_task(
    db_url: str, task_token: bytes, batch_id: str, step: str, activity: str = ""
) -> str:
    """Register an activity's task token; returns the opaque task id to hand outside.

    Call it from the activity (`activity.info().task_token`) before
    `activity.raise_complete_async()`. Registering the same token again returns the same id.
    `db_url` is the database beside the ledger (`Settings.ledger`).
    """
    return TaskStore(db_url).register(task_token, batch_id, step, activity)


class TaskStore:
    """task id -> task token, and each task's state (open, completed, failed)."""

    def __init__(self, db_url: str) -> None:
        self._engine: Engine = _open(db_url)

    def register(self, task_token: bytes, batch_id: str, step: str, activity: str = "") -> str:
        """See `register_external_task`."""
        task_id = "T-" + secrets.token_urlsafe(18)
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    tasks.insert().values(
                        task_id=task_id,
                        task_token=task_token,
                        batch_id=batch_id,
                        step=step,
                        activity=activity,
                        state="open",
                        created_at=datetime.now(UTC).isoformat(),
                    )
                )
        except IntegrityError:
            with self._engine.connect() as conn:
                existing = conn.scalar(
                    select(tasks.c.task_id).where(tasks.c.task_token == task_token)
                )
            if existing is None:
                raise
            return str(existing)
        return task_id

    def get(self, task_id: str) -> ExternalTask | None:
        """The task, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(select(tasks).where(tasks.c.task_id == task_id)).first()
        return None if row is None else ExternalTask.model_validate(dict(row._mapping))

    def finish(self, task_id: str, state: str, by: str) -> bool:
        """Mark an open task `state`; False if it was not open any more."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(tasks)
                .where(tasks.c.task_id == task_id, tasks.c.state == "open")
                .values(state=state, finished_at=datetime.now(UTC).isoformat(), finished_by=by)
            )
        return bool(result.rowcount)
