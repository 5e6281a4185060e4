"""One recorded path per locked version of each reference product (tests/histories/), so that
every version a batch may still be pinned to replays against the engine (`test_replay`).

A new product version comes with its own scenario here, recorded once with
`VEIN2VEIN_RECORD_HISTORIES=<name> pytest tests/test_replay.py -k record`; the lock test
refuses a locked version without a history.
"""

from __future__ import annotations

from definitions import (
    ALLOGENEIC_DONOR_LOT,
    ALLOGENEIC_PATIENT_ORDER,
    AUTOLOGOUS_CD19_CAR_T,
    IN_VIVO_LOT,
)
from tests.harness import Harness
from tests.history_scenarios import Handle, Scenario, _release_lot


async def car_t_1_0_2_released(harness: Harness) -> Handle:
    """CAR T 1.0.2: collected, made, tested, released by QA, shipped and infused."""
    h = await harness.start(AUTOLOGOUS_CD19_CAR_T)
    await harness.release(h)
    await harness.finish(h)
    return h


async def allogeneic_lot_1_0_2_released(harness: Harness) -> Handle:
    """Allogeneic donor lot 1.0.2 released into inventory."""
    return await _release_lot(harness, ALLOGENEIC_DONOR_LOT, "qa_lot_release")


async def allogeneic_order_1_0_3_infused(harness: Harness) -> Handle:
    """Allogeneic patient order 1.0.3 allocated a released dose and infused."""
    await _release_lot(harness, ALLOGENEIC_DONOR_LOT, "qa_lot_release")
    h = await harness.start(ALLOGENEIC_PATIENT_ORDER)
    await harness.finish(h)
    return h


async def in_vivo_lot_1_0_2_released(harness: Harness) -> Handle:
    """In vivo LNP lot 1.0.2 released into inventory."""
    return await _release_lot(harness, IN_VIVO_LOT, "qa_lot_release")


VERSION_SCENARIOS: dict[str, Scenario] = {
    "car_t_1_0_2_released": car_t_1_0_2_released,
    "allogeneic_lot_1_0_2_released": allogeneic_lot_1_0_2_released,
    "allogeneic_order_1_0_3_infused": allogeneic_order_1_0_3_infused,
    "in_vivo_lot_1_0_2_released": in_vivo_lot_1_0_2_released,
}
