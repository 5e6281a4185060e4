"""Burst booking: N batches asking the same site for a slot at once, on the embedded dev server.

Every batch books a 14-day manufacturing slot at MFG-EAST (4 lanes) inside a treatment window
that leaves one possible start day, so exactly 4 can be booked and every other batch must be
refused for lack of capacity: a business outcome (a quarantine for QA), never a technical
hold. Prints the outcomes, the seconds until every batch had its answer, and whether any lane
day was booked twice.

    .venv/bin/python -m benchmarks.burst [--batches 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.server import embedded_server, simulated_network
from records.reservations import Reservations
from tests.harness import order
from vein2vein.worker import build_worker
from workflows import call, minutes, process, stage, task
from workflows.client import get_record, new_batch_id, start_batch
from workflows.model import BatchRecord, DeviationKind, StepState

SITE = "MFG-EAST"
LANES = 4

BURST = process(
    "bench-burst-booking",
    version="1",
    title="Book a manufacturing slot (burst benchmark)",
    specification={},
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=3)),
            task(
                "book_slot",
                call("book_slot", at="manufacturing_site", timeout=minutes(1), attempts=5),
                undo=call("release_slot", at="manufacturing_site", timeout=minutes(1), attempts=5),
            ),
        )
    ],
)


def outcome(rec: BatchRecord) -> str | None:
    """booked, refused (no capacity), technical (held), or None while still deciding."""
    if any(s.step == "book_slot" and s.state == StepState.DONE for s in rec.steps):
        return "booked"
    for d in rec.deviations:
        if d.kind == DeviationKind.RETRIES_EXHAUSTED:
            return "technical"
        if "no slot" in d.description:
            return "refused"
        return f"other: {d.kind}"
    return None


async def main(batches: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with embedded_server(Path(tmp)) as (client, _pid):
            net = simulated_network(client, Path(tmp))
            ledger, acts = net.ledger, net.activities
            now = datetime.now(UTC)
            # [now+3d, now+4d) holds exactly one midnight: one start day for the whole site.
            window = {
                "treatment_window_start": now,
                "treatment_window_end": now + timedelta(days=3 + 1 + 14 + 7, minutes=-1),
            }
            async with build_worker(client, acts, products=[BURST]):
                ids = [new_batch_id() for _ in range(batches)]
                t0 = time.perf_counter()
                await asyncio.gather(
                    *(start_batch(client, BURST, order(**window), batch_id=b) for b in ids)
                )
                started = time.perf_counter() - t0
                answers: dict[str, str] = {}
                while len(answers) < batches and time.perf_counter() - t0 < 600:
                    for b in [b for b in ids if b not in answers]:
                        got = outcome(await get_record(client, b))
                        if got is not None:
                            answers[b] = got
                    await asyncio.sleep(1)
                settled = time.perf_counter() - t0
            calendar = Reservations(ledger.engine).calendar(SITE, LANES)
            ledger.close()
    counts = Counter(answers.values())
    days = Counter(
        (s.lane, (s.start + timedelta(days=n)).date())
        for s in calendar.bookings.values()
        for n in range((s.end - s.start).days)
    )
    print(f"{batches} batches booking {SITE} ({LANES} lanes, one possible start day) at once")
    print(f"  started in {started:.1f} s; every batch answered in {settled:.1f} s")
    for name in ("booked", "refused", "technical"):
        print(f"  {name:<10} {counts.pop(name, 0):>5}")
    for name, n in counts.items():
        print(f"  {name:<10} {n:>5}")
    print(f"  unanswered {batches - len(answers):>5}")
    print(f"  lane-days booked twice: {sum(1 for n in days.values() if n > 1)}")


if __name__ == "__main__":
    # Deviations are the point here, not news: keep the workflow logger's notices off the table.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    asyncio.run(main(parser.parse_args().batches))
