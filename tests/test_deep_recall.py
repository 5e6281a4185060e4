"""Lot genealogy across levels: the raw LNP lot is consumed by a vial lot, whose vials patients
receive; a recall of the LNP lot reaches those patients' batches, holds the one not yet
administered, lists the one already administered for follow-up and withholds the vials left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities import SimulatedWorld
from activities.sim_tables import DEFAULT_LOTS
from definitions import IN_VIVO_LOT, IN_VIVO_PATIENT
from definitions.in_vivo_lnp import INVENTORY
from records import Genealogy
from records.reservations import Reservations
from tests.conftest import new_ledger, running_harness, time_skipping_env
from tests.harness import Harness
from vein2vein.cli import app
from workflows.model import BatchStatus, DecisionAction, DeviationKind
from workflows.signatures import SigningKey

LNP = DEFAULT_LOTS["lnp"]


@pytest.fixture(scope="module")
async def harness(
    tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey
) -> AsyncIterator[Harness]:
    """This module's own server, ledger and stock: a recall withholds vials that other tests'
    patients would otherwise be allocated."""
    world = SimulatedWorld(seed=17)
    with new_ledger(tmp_path_factory) as ledger:
        async with (
            time_skipping_env() as env,
            running_harness(env, world, ledger, signing_key) as h,
        ):
            yield h


async def _cli(args: list[str], env: dict[str, str]):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(CliRunner().invoke, app, args, env=env)


async def _until_projected(genealogy: Genealogy, lot: str, batches: set[str]) -> None:
    # The ledger projection is an activity of its own: give it a moment to land.
    for _ in range(100):
        if batches <= {u.batch_id for u in genealogy.where_used(lot)}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{batches} never reached the genealogy of {lot}")


@pytest.mark.requirement("C1271-290")
async def test_a_recall_of_the_raw_lnp_lot_reaches_the_patients_of_its_vial_lot(
    harness: Harness, tmp_path: Path
) -> None:
    lot_batch = await harness.start(IN_VIVO_LOT)
    await harness.until_waiting(lot_batch, "decision at qa_lot_release")
    await harness.decide(lot_batch, "qa_lot_release", DecisionAction.APPROVE)
    lot_rec = await harness.finish(lot_batch)
    vials = lot_rec.coi
    assert vials and LNP in lot_rec.lots

    administered = await harness.start(IN_VIVO_PATIENT, weight_kg=72.5)
    await harness.advance_until(administered, lambda r: r.infused, step=timedelta(hours=6))
    waiting = await harness.start(IN_VIVO_PATIENT, weight_kg=60)
    pending = await harness.advance_until(waiting, lambda r: vials in r.lots)
    assert not pending.infused

    genealogy = Genealogy(harness.ledger.engine)
    origin = genealogy.origin(vials)
    assert origin is not None and origin.batch_id == lot_batch.id
    await _until_projected(genealogy, LNP, {lot_batch.id, administered.id, waiting.id})
    uses = {u.batch_id: u for u in genealogy.where_used(LNP)}
    assert uses[lot_batch.id].path == (LNP,) and uses[lot_batch.id].made == (vials,)
    assert uses[waiting.id].path == (LNP, vials) and uses[waiting.id].lot == vials
    assert uses[administered.id].path == (LNP, vials)
    assert harness.ledger.where_used(LNP)[0].batch_id == lot_batch.id  # one level only

    env = {
        "TEMPORAL_ADDRESS": harness.client.service_client.config.target_host,
        "VEIN2VEIN_DATA_DIR": str(tmp_path),
        "VEIN2VEIN_LEDGER_URL": str(harness.ledger.engine.url),
        "COLUMNS": "250",
    }
    listed = await _cli(["lots", "where-used", LNP], env)
    assert listed.exit_code == 0, listed.output
    assert waiting.id in listed.output and f"{LNP} -> {vials}" in listed.output

    recalled = await _cli(
        ["lots", "recall", LNP, "--reason", "LNP potency OOS", "--by", "qa-ada"], env
    )
    assert recalled.exit_code == 0, recalled.output
    rows = {line.split()[1]: line for line in recalled.output.splitlines() if "B-" in line}
    assert " yes " in rows[waiting.id]
    assert " administered " in rows[administered.id]
    assert " no " in rows[lot_batch.id]  # closed: its vials are withheld below instead
    assert f"already administered, for follow-up: {administered.id}" in recalled.output

    held = await harness.record(waiting)
    assert held.status == BatchStatus.QUARANTINED
    dev = next(d for d in held.deviations if d.kind == DeviationKind.LOT_RECALLED)
    assert vials in dev.description and f"recall of {LNP} via {LNP} -> {vials}" in dev.description
    assert not (await harness.record(administered)).deviations

    # The vials left in stock are no longer allocatable, and a repeat withholds none.
    assert genealogy.affected_lots(LNP) == [LNP, vials]
    reservations = Reservations(harness.ledger.engine)
    stock = reservations.stock(INVENTORY, await harness.env.get_current_time())
    assert not [d for d in stock.available if d.startswith(vials)]
    assert "dose(s) in stock withheld" in recalled.output
    assert reservations.withhold([vials], "recall:again") == []

    for handle in (administered, waiting):
        await handle.cancel()
        await harness.finish(handle)
