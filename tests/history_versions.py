"""One recorded path per locked version of each reference product (tests/histories/), so that
every version a batch may still be pinned to replays against the engine (`test_replay`).

The paths are those of `tests.history_scenarios`, recorded again under a name that carries the
version they pinned, and again when the engine changes, behind a patch, what new batches record
(the old histories keep replaying the old way, the new ones the new way). A new product version
comes with its entry here, recorded once with
`VEIN2VEIN_RECORD_HISTORIES=<name> pytest tests/test_replay.py -k record`; the lock test
refuses a locked version without a history.
"""

from __future__ import annotations

from definitions import AUTOLOGOUS_CD19_CAR_T
from tests.harness import Harness
from tests.history_scenarios import (
    Handle,
    Scenario,
    allogeneic_lot_released,
    allogeneic_order_infused,
    car_t_withdrawn,
    hsc_pooled_and_engrafted,
    in_vivo_follow_up_continued_as_new,
    in_vivo_lot_released,
    in_vivo_not_eligible,
)


async def car_t_released(harness: Harness) -> Handle:
    """CAR T: collected, made, tested, released by QA, shipped and infused."""
    h = await harness.start(AUTOLOGOUS_CD19_CAR_T)
    await harness.release(h)
    await harness.finish(h)
    return h


VERSION_SCENARIOS: dict[str, Scenario] = {
    "car_t_1_0_2_released": car_t_released,
    "allogeneic_lot_1_0_2_released": allogeneic_lot_released,
    "allogeneic_order_1_0_3_infused": allogeneic_order_infused,
    "in_vivo_lot_1_0_2_released": in_vivo_lot_released,
    # Session 2026-12-02 #5: product categories on every product, shelf lives on the lots.
    "car_t_1_1_0_released": car_t_released,
    "allogeneic_lot_1_1_0_released": allogeneic_lot_released,
    "allogeneic_order_1_1_0_infused": allogeneic_order_infused,
    "in_vivo_lot_1_1_0_released": in_vivo_lot_released,
    "in_vivo_1_4_0_not_eligible": in_vivo_not_eligible,
    "hsc_1_1_0_pooled_and_engrafted": hsc_pooled_and_engrafted,
    # Session 2026-12-03 #9: a satisfied wait returns at once (`calls.PROMPT_PATCH`), so a
    # report's events ride with the next call instead of a projection of their own.
    "car_t_prompt_waits_released": car_t_released,
    "car_t_prompt_waits_withdrawn": car_t_withdrawn,
    "hsc_prompt_waits_pooled_and_engrafted": hsc_pooled_and_engrafted,
    "in_vivo_prompt_waits_continued_as_new": in_vivo_follow_up_continued_as_new,
    # The same session: events recorded while a call is in flight wait for it a while
    # (`projection.AWAIT_CALL_PATCH`), so the next call carries them.
    "car_t_await_calls_released": car_t_released,
    "hsc_await_calls_pooled_and_engrafted": hsc_pooled_and_engrafted,
}
