"""Watching demonstration batches from `vein2vein dev --demo`: a board that never takes the
process down, and a hint the moment a batch waits for a person.

A record read can fail for reasons that are not the reader's (a slow workflow task on a loaded
machine fails a query with "potential deadlock", a worker restarting, a server busy): the row
says so and the next read tries again. Batches that are finished are not read again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from rich.table import Table
from temporalio.client import Client

from vein2vein.service.admin import DEMO_USERS
from vein2vein.settings import Settings
from workflows.client import get_record
from workflows.model import BatchRecord, BatchStatus, Role
from workflows.record import AwaitKind

#: How long one record read may take before its row says the batch is not answering.
READ_TIMEOUT = timedelta(seconds=10)
#: Statuses after which a batch's record no longer changes.
FINAL = frozenset({BatchStatus.COMPLETED, BatchStatus.ABANDONED, BatchStatus.ENDED})


class Row(BaseModel):
    """One watched batch: its scenario and its last record, or why it could not be read."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    scenario: str
    record: BatchRecord | None = None
    problem: str | None = None

    @property
    def finished(self) -> bool:
        """The batch is done: its record will not change again."""
        return self.record is not None and self.record.status in FINAL


async def _read(client: Client, batch_id: str, scenario: str) -> Row:
    try:
        rec = await get_record(client, batch_id, rpc_timeout=READ_TIMEOUT)
    except Exception as e:  # any failure of one read is shown on its row, never fatal
        first = (str(e) or type(e).__name__).splitlines()[0][:80]
        return Row(batch_id=batch_id, scenario=scenario, problem=f"not answering: {first}")
    return Row(batch_id=batch_id, scenario=scenario, record=rec)


async def read_rows(
    client: Client, batches: Iterable[tuple[str, str]], previous: dict[str, Row]
) -> dict[str, Row]:
    """Every watched batch's row: finished batches keep their last record, the others are
    read concurrently; a failed read keeps the last good record and notes the problem."""
    wanted = list(batches)
    todo = [(b, s) for b, s in wanted if not (b in previous and previous[b].finished)]
    fresh = await asyncio.gather(*(_read(client, b, s) for b, s in todo))
    rows = dict(previous)
    for row in fresh:
        last = previous.get(row.batch_id)
        if row.record is None and last is not None and last.record is not None:
            row = last.model_copy(update={"problem": row.problem})
        rows[row.batch_id] = row
    return {b: rows[b] for b, _ in wanted}


def board(rows: Iterable[Row]) -> Table:
    """The live table under the start-up text."""
    table = Table("batch", "scenario", "status", "stage", "waiting for", title="demo batches")
    for row in rows:
        r = row.record
        waits = "; ".join(a.label() for a in r.awaiting) if r else ""
        table.add_row(
            row.batch_id,
            row.scenario,
            r.status.value if r else "?",
            (r.stage or "-") if r else "-",
            (row.problem or waits)[:70],
        )
    return table


def env_prefix(settings: Settings) -> str:
    """What another terminal must set to reach this dev run, when it is not the default."""
    parts = []
    if settings.temporal_address or settings.temporal_port != Settings().temporal_port:
        parts.append(f"TEMPORAL_ADDRESS={settings.address}")
    if settings.data_dir != Settings().data_dir:
        parts.append(f"VEIN2VEIN_DATA_DIR={settings.data_dir}")
    return " ".join(parts) + " " if parts else ""


def sign_hints(row: Row, settings: Settings, http_port: int, told: set[str]) -> list[str]:
    """The commands that sign what `row`'s batch now waits for, once per gate or deviation:
    the CLI line (with the settings another terminal needs) and the console page."""
    r = row.record
    if r is None:
        return []
    lines = []
    first = not told
    for a in r.awaiting:
        key = f"{r.batch_id}/{a.target}"
        if a.kind == AwaitKind.EVENT or key in told:
            continue
        told.add(key)
        role = a.roles[0] if a.roles else Role.QA
        signer = next((u for u, _, roles, _ in DEMO_USERS if role in roles), "YOUR-USER-ID")
        action = "approve" if a.kind == AwaitKind.DECISION else "continue --reason '...'"
        lines += [
            f"{r.batch_id} ({row.scenario}) waits for {a.label()}; sign it with",
            f"  {env_prefix(settings)}.venv/bin/vein2vein batch decide {r.batch_id} {a.target}"
            f" {action} --signer {signer} --role {role.value}",
            f"  or at http://127.0.0.1:{http_port}/console/batches/{r.batch_id} (as {signer})",
        ]
    if first and lines:
        lines.insert(
            0,
            "(a demo user signs only after choosing their own password at their first console"
            f" sign-in: http://127.0.0.1:{http_port}/login)",
        )
    return lines
