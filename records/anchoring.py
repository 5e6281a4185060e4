"""Making checkpoints: sign every chain head that moved, into the table and the journal.

A `Checkpointer` is called at a batch's close (the `project_audit` activity, after it wrote
"record.closed"), periodically by the worker (`checkpoint_periodically`) and on demand
(`vein2vein ledger checkpoint`). It is idempotent: a head that already has a checkpoint is
never signed again. It refuses to sign a chain that does not verify, so a rewrite made between
two checkpoints is reported, not blessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, func, select

from records._chain import Break
from records._schema import ledger_entries
from records.checkpoints import (
    Checkpoint,
    Signer,
    append_to_journal,
    insert_checkpoint,
    last_checkpointed,
    sign_checkpoint,
)
from records.verification import verify_head

if TYPE_CHECKING:
    from records.ledger import Ledger

log = logging.getLogger("vein2vein.ledger.checkpoints")


class CheckpointRun(BaseModel):
    """What one checkpointing pass did."""

    model_config = ConfigDict(frozen=True)

    made: list[Checkpoint] = Field(default_factory=list, description="New checkpoints")
    refused: list[Break] = Field(
        default_factory=list, description="Chains not signed because they do not verify"
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Checkpointer:
    """Signs the heads of the ledger's chains with `signer` into the table and `journal`."""

    def __init__(
        self,
        ledger: Ledger,
        signer: Signer,
        journal: Path,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.ledger = ledger
        self.signer = signer
        self.journal = journal
        self._clock = clock

    def checkpoint(self, batch_ids: Sequence[str] | None = None) -> CheckpointRun:
        """Checkpoint every chain (or those of `batch_ids`) whose head moved since its last
        checkpoint. Each new checkpoint is committed to the table, then appended to the
        journal; a crash in between leaves it in the table only, which verification accepts.
        """
        engine = self.ledger.engine
        with engine.connect() as conn:
            heads = _heads(conn, batch_ids)
            last = last_checkpointed(conn, batch_ids)
        pending: list[Checkpoint] = []
        refused: list[Break] = []
        for batch_id in sorted(b for b, seq in heads.items() if seq > last.get(b, 0)):
            with engine.connect() as conn:
                report, head = verify_head(conn, batch_id)
            if not report.ok or head is None:
                refused.extend(report.breaks)
                log.error(
                    "chain does not verify: not checkpointed",
                    extra={"batch_id": batch_id, "breaks": [b.reason for b in report.breaks]},
                )
                continue
            seq, entry_hash = head
            pending.append(sign_checkpoint(self.signer, batch_id, seq, entry_hash, self._clock()))
        made: list[Checkpoint] = []
        if pending:
            with self.ledger.write_transaction() as conn:
                made = [cp for cp in pending if insert_checkpoint(conn, cp)]
            append_to_journal(self.journal, made)
        if made:
            log.info("ledger checkpoints made", extra={"count": len(made)})
        return CheckpointRun(made=made, refused=refused)


async def checkpoint_periodically(
    checkpointer: Checkpointer, interval: float, stop: asyncio.Event
) -> None:
    """Checkpoint every moved chain every `interval` seconds, and once more when `stop` is
    set. A failed pass is logged and retried at the next interval.

    The first pass waits one interval: a worker just started is replaying every batch it
    picks up again (after a restart, all of them), and a pass then re-verified every moved
    chain beside that work, slowing the batches' recovery (`benchmarks.recovery`). A chain
    left unsigned by a worker that died is signed at the first pass of the next one, or at the
    batch's close, whichever comes first."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        stopping = stop.is_set()  # set during a pass: one more pass sees what came in meanwhile
        try:
            await asyncio.to_thread(checkpointer.checkpoint)
        except Exception:
            log.exception("ledger checkpoint pass failed; retrying in %s s", interval)
        if stopping:
            return


def _heads(conn: Connection, batch_ids: Sequence[str] | None) -> dict[str, int]:
    stmt = select(ledger_entries.c.batch_id, func.max(ledger_entries.c.seq)).group_by(
        ledger_entries.c.batch_id
    )
    if batch_ids is not None:
        stmt = stmt.where(ledger_entries.c.batch_id.in_(list(batch_ids)))
    return {str(batch): int(seq) for batch, seq in conn.execute(stmt)}
