"""Replay cost: how long a worker takes to rebuild a batch from its history.

Replays every committed history (`tests/histories/`) several times with the same sandboxed
runner the worker uses and prints, per history, its events and the median seconds per
replay, then the total. A replay here includes creating the workflow's sandbox, which is what
a restarted worker pays for every batch it picks up again.

    .venv/bin/python -m benchmarks.replay [--rounds 3] [NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from definitions import CATALOG
from tests.products import TEST_PRODUCTS
from vein2vein.workflow_runner import batch_runner
from workflows.registry import workflow_type

HISTORIES = Path(__file__).resolve().parents[1] / "tests" / "histories"


async def main(names: list[str], rounds: int) -> None:
    replayer = Replayer(
        workflows=[workflow_type(p) for p in [*CATALOG, *TEST_PRODUCTS]],
        data_converter=pydantic_data_converter,
        workflow_runner=batch_runner(),
        debug_mode=True,
    )
    paths = sorted(HISTORIES.glob("*.json"))
    if names:
        paths = [p for p in paths if p.stem in names]
    total = 0.0
    print(f"{'history':<40} {'events':>6} {'s/replay':>9}")
    for path in paths:
        history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        took = []
        for _ in range(rounds):
            start = time.perf_counter()
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            took.append(time.perf_counter() - start)
            if result.replay_failure is not None:
                raise SystemExit(f"{path.stem}: {result.replay_failure}")
        median = statistics.median(took)
        total += median
        print(f"{path.stem:<40} {len(history.events):>6} {median:>9.3f}")
    print(f"{'total (median per history, summed)':<47} {total:>9.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="history names (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.names, args.rounds))
