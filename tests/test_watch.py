"""The dev run's watch of its demonstration batches: a read that fails is shown on its row and
never ends the watch (a failed status query once killed `vein2vein dev --demo` with its
console, worker and server); a signing hint appears once, when a batch starts waiting for a
person, with what another terminal needs to reach this dev run."""

from __future__ import annotations

from pathlib import Path

from tests.harness import Harness
from tests.products import FLAKY_BOOKING
from vein2vein.settings import Settings
from vein2vein.watch import board, read_rows, sign_hints


async def test_a_failed_read_is_a_row_not_the_end_of_the_watch(harness: Harness) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    batches = [(handle.id, "good"), ("B-GONE000000", "vanished")]

    rows = await read_rows(harness.client, batches, {})

    assert rows[handle.id].record is not None and rows[handle.id].problem is None
    gone = rows["B-GONE000000"]
    assert gone.record is None and gone.problem and gone.problem.startswith("not answering")
    table = board(rows.values())
    assert table.row_count == 2
    await handle.cancel()
    await harness.finish(handle)
    # A batch that stops answering keeps its last record, with the problem noted.
    later = await read_rows(harness.client, [(handle.id, "good")], rows)
    assert later[handle.id].record is not None


async def test_a_signing_hint_appears_once_when_a_gate_opens(
    harness: Harness, tmp_path: Path
) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    settings = Settings(data_dir=tmp_path, temporal_port=7301)
    rows = await read_rows(harness.client, [(handle.id, "demo")], {})
    told: set[str] = set()

    hints = sign_hints(rows[handle.id], settings, 8123, told)

    assert "choosing their own password" in hints[0] and "127.0.0.1:8123/login" in hints[0]
    command = next(line for line in hints if "batch decide" in line)
    assert f"batch decide {handle.id} approve approve --signer qa --role qa" in command
    assert "TEMPORAL_ADDRESS=127.0.0.1:7301" in command
    assert f"VEIN2VEIN_DATA_DIR={tmp_path}" in command
    assert any(f"http://127.0.0.1:8123/console/batches/{handle.id}" in line for line in hints)
    assert sign_hints(rows[handle.id], settings, 8123, told) == []  # once per gate
    await handle.cancel()
    await harness.finish(handle)
