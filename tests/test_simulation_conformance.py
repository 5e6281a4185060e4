"""The simulator cannot drift from the engine: for every reference product (a clean run) and
for seeded CAR T faults, the simulator's trace (steps in order with their outcome,
deviations by kind and step with their disposition, compensations, final status) equals the
durable executor's on the time-skipping server, given the same faults and decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from activities import Fault
from definitions import (
    ALLOGENEIC_DONOR_LOT,
    ALLOGENEIC_PATIENT_ORDER,
    AUTOLOGOUS_CD19_CAR_T,
    CATALOG,
    HSC_GENE_THERAPY,
    IN_VIVO_LOT,
    IN_VIVO_PATIENT,
)
from simulation.network import run_one
from simulation.trace import Trace, trace
from tests.harness import Harness
from workflows.definition import CompiledDefinition
from workflows.model import AwaitKind, BatchRecord, DecisionAction

CLASSIC = {
    "treatment_centre": "TC-NORTH",
    "manufacturing_site": "MFG-CONFORM",
    "courier": "COURIER-CRYO",
}
HSC_SITES = {
    "treatment_centre": "TC-NORTH",
    "apheresis_unit": "APH-WEST",
    "central_lab": "LAB-CENTRAL",
    "plant": "MFG-CONFORM",
    "courier": "COURIER-CRYO",
}
Decisions = dict[str, DecisionAction]


def _action(decisions: Decisions, kind: str, step: str, allowed: tuple[DecisionAction, ...]) -> Any:
    wanted = decisions.get(f"{kind}@{step}", decisions.get(kind))
    for action in (wanted, DecisionAction.CONTINUE, DecisionAction.ABANDON):
        if action is not None and action in allowed:
            return action
    return allowed[0]


async def durable(
    harness: Harness,
    definition: CompiledDefinition,
    faults: list[Fault],
    decisions: Decisions,
    **order: Any,
) -> BatchRecord:
    """Run one batch on the engine to its end, approving every gate and disposing of every
    deviation as `decisions` says (by kind or `kind@step`), as the simulator's forced mode."""
    handle = await harness.start(definition, faults=faults, **order)
    decided: set[str] = set()
    for _ in range(5000):
        rec = await harness.record(handle)
        if rec.finished:
            return await harness.finish(handle)
        acted = False
        for a in rec.awaiting:
            if a.target in decided or a.kind == AwaitKind.EVENT:
                continue
            decided.add(a.target)
            acted = True
            if a.kind == AwaitKind.DECISION:
                await harness.decide(handle, a.target, DecisionAction.APPROVE)
                continue
            dev = next(d for d in rec.deviations if d.deviation_id == a.target)
            action = _action(decisions, dev.kind.value, dev.step, dev.allowed)
            if action == DecisionAction.EXCEPTIONAL_RELEASE:
                await harness.request_exceptional_release(handle, dev.deviation_id)
            await harness.decide(handle, dev.deviation_id, action, reason="conformance")
        if not acted:
            long_wait = rec.stage == "follow_up"
            await harness.skip(timedelta(days=30) if long_wait else timedelta(hours=6))
    raise AssertionError("the batch did not end")


def simulated(
    definition: CompiledDefinition, faults: list[Fault], decisions: Decisions, **order: Any
) -> Trace:
    """The simulator's trace for the same order, faults and decisions."""
    return trace(
        run_one(
            definition,
            faults=list(faults),
            decisions=decisions,
            sites=order.get("sites", CLASSIC),
            options=order.get("options"),
            weight_kg=order.get("weight_kg"),
            stock={"allo-cd19": 20, "invivo-cd19-lnp": 200},
        )
    )


async def conform(
    harness: Harness,
    definition: CompiledDefinition,
    faults: list[Fault] | None = None,
    decisions: Decisions | None = None,
    **order: Any,
) -> Trace:
    order.setdefault("sites", CLASSIC)
    expected = trace(await durable(harness, definition, faults or [], decisions or {}, **order))
    got = simulated(definition, faults or [], decisions or {}, **order)
    assert got.lines() == expected.lines()
    return got


CLEAN: dict[str, dict[str, Any]] = {
    AUTOLOGOUS_CD19_CAR_T.product: {},
    ALLOGENEIC_DONOR_LOT.product: {},
    ALLOGENEIC_PATIENT_ORDER.product: {},
    IN_VIVO_LOT.product: {},
    IN_VIVO_PATIENT.product: {"weight_kg": 72.5},
    HSC_GENE_THERAPY.product: {"sites": HSC_SITES, "weight_kg": 70},
}
#: A patient order draws from stock that a released lot put there first.
NEEDS_LOT = {
    ALLOGENEIC_PATIENT_ORDER.product: ALLOGENEIC_DONOR_LOT,
    IN_VIVO_PATIENT.product: IN_VIVO_LOT,
}


def test_every_catalog_product_has_a_clean_conformance_run() -> None:
    assert set(CLEAN) == set(CATALOG)


@pytest.mark.parametrize("product", sorted(CLEAN))
async def test_clean_run_conforms(harness: Harness, product: str) -> None:
    lot = NEEDS_LOT.get(product)
    if lot is not None:
        await durable(harness, lot, [], {}, sites=CLASSIC)
    got = await conform(harness, CATALOG[product], **CLEAN[product])
    assert got.status == "completed"


CAR_T_FAULTS: dict[str, tuple[list[Fault], Decisions, str]] = {
    "excursion_continued": (
        [Fault(kind="temperature_excursion", step="receipt_at_site")],
        {"temperature_excursion": DecisionAction.CONTINUE},
        "completed",
    ),
    "oos_viability_abandoned": (
        [Fault(kind="oos", result="viability_pct")],
        {"out_of_specification": DecisionAction.ABANDON},
        "abandoned",
    ),
    "failed_collection_recollected": ([Fault(kind="failed_collection")], {}, "completed"),
    "hold_breached_continued": (
        [Fault(kind="courier_delay", step="receipt_at_site", delay=timedelta(hours=40))],
        {"hold_breached": DecisionAction.CONTINUE},
        "completed",
    ),
    "oos_viability_exceptionally_released": (
        [Fault(kind="oos", result="viability_pct")],
        {"out_of_specification": DecisionAction.EXCEPTIONAL_RELEASE},
        "completed",
    ),
}


@pytest.mark.parametrize("name", sorted(CAR_T_FAULTS))
async def test_car_t_fault_conforms(harness: Harness, name: str) -> None:
    faults, decisions, status = CAR_T_FAULTS[name]
    got = await conform(harness, AUTOLOGOUS_CD19_CAR_T, faults, decisions)
    assert got.status == status
    if faults[0].kind != "failed_collection":
        assert got.deviations, "the fault opened a deviation in both executors"
    else:
        assert ("apheresis", 2, "done") in got.steps
