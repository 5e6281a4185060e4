"""Every command's error path ends the same way: one `error:` line on stderr, status 1, nothing
changed, and a clean process exit (never an interpreter abort after the work is done).

The first test drives `run_command` in-process (what the console script runs, parser errors
included); the second runs the real console script as a process many times against a real
Temporal, because an abort at interpreter exit (`PyGILState_Release`, status 134/139) came
only some of the time and only in a process that had made a Temporal client.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from definitions import AUTOLOGOUS_CD19_CAR_T as CAR_T
from tests.harness import Harness
from vein2vein.cli import run_command

#: Bad input that needs no Temporal: (command line, what the one line must say).
BAD_INPUT: list[tuple[list[str], str]] = [
    (["nope"], "No such command 'nope'"),
    (["batch", "list", "--status", "UNKNOWN"], "unknown status 'UNKNOWN'; known: planned"),
    (["batch", "list", "--product", "nothing"], "unknown product 'nothing'"),
    (["batch", "show"], "Missing argument"),
    (
        ["batch", "start", CAR_T.product, "--order-id", "O-1", "--pseudonym", "A Name"],
        "a patient pseudonym is 6 to 40 letters, digits and hyphens",
    ),
    (
        ["batch", "start", CAR_T.product, "--order-id", "O", "--pseudonym", "PSN-000001"],
        "an order id is 3 to 40 letters, digits and hyphens",
    ),
    (
        [
            "batch",
            "start",
            CAR_T.product,
            "--order-id",
            "O-1",
            "--pseudonym",
            "PSN-000001",
            "--weight-kg",
            "heavy",
        ],
        "Invalid value for '--weight-kg'",
    ),
    (
        [
            "batch",
            "start",
            CAR_T.product,
            "--order-id",
            "O-1",
            "--pseudonym",
            "PSN-000001",
            "--window-start",
            "next week",
        ],
        "Invalid value for '--window-start'",
    ),
    (["tokens", "create", "lims-1", "--scope", "teleport"], "unknown scope(s) teleport"),
    (["definitions", "show", "no-such-product"], "unknown product 'no-such-product'"),
    (["capacity", "MFG-EAST", "--start", "tomorrow"], "is not a date"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_error_line_and_status_1(
    args: list[str],
    needle: str,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VEIN2VEIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")  # nothing may need it
    monkeypatch.setenv("COLUMNS", "200")
    assert run_command(args) == 1
    out, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and needle in lines[0], err
    assert out == ""
    assert not (tmp_path / "tokens.json").exists()  # refused, so nothing was written


#: Error paths that reach Temporal (a client is made, so the SDK runtime's threads run).
REACHING_TEMPORAL: list[tuple[list[str], str]] = [
    (["batch", "show", "B-NOPE000000"], "no batch B-NOPE000000"),
    (["record", "export", "B-NOPE000000"], "B-NOPE000000"),
    (["ledger", "verify", "--batch", "B-NOPE000000"], "the ledger has no batch B-NOPE000000"),
    (
        [
            "batch",
            "decide",
            "B-NOPE000000",
            "qa_disposition",
            "approve",
            "--signer",
            "qa",
            "--role",
            "qa",
        ],
        "no batch B-NOPE000000",
    ),
]
RUNS_EACH = 6


async def test_error_paths_exit_cleanly_every_time(harness: Harness, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": harness.client.service_client.config.target_host,
        "VEIN2VEIN_DATA_DIR": str(tmp_path),
        "VEIN2VEIN_LEDGER_URL": str(harness.ledger.engine.url),
        "COLUMNS": "200",
    }
    script = "from vein2vein.cli import main; main()"
    gate = asyncio.Semaphore(2)

    async def once(args: list[str]) -> tuple[list[str], int, str]:
        async with gate:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                script,
                *args,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
            return args, proc.returncode or 0, err.decode()

    runs = await asyncio.gather(
        *(once(args) for args, _ in REACHING_TEMPORAL for _ in range(RUNS_EACH))
    )
    needles = {tuple(a): n for a, n in REACHING_TEMPORAL}
    for args, code, err in runs:
        lines = err.strip().splitlines()
        assert code == 1, (args, code, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, err)
        assert needles[tuple(args)] in lines[0], (args, err)
