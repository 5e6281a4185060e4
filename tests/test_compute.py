"""Computed values: product functions run in the workflow, recorded and judged like any
result; products declare their own activities, and an unknown activity never compiles."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator

import pytest

from activities import Fault
from definitions.in_vivo_lnp import weight_based_dose
from tests.harness import Harness
from tests.products import COMPUTED_DOSE
from workflows import DefinitionError, Role, call, gate, minutes, process, stage, task
from workflows.definition import CompiledDefinition
from workflows.functions import fingerprint
from workflows.model import BatchStatus, DecisionAction, DeviationKind


@pytest.fixture
def cd34(harness: Harness) -> Iterator[Harness]:
    with harness.simulating("cd34_cells", nominal=4.2e8, failing=2e7, unit="cells"):
        yield harness


async def test_a_computed_dose_is_recorded_with_its_inputs(cd34: Harness) -> None:
    handle = await cd34.start(COMPUTED_DOSE, weight_kg=70)
    rec = await cd34.until_waiting(handle, "decision at approve")
    counted = rec.results["cd34_cells"].value
    per_kg = rec.results["cd34_per_kg"]
    assert isinstance(counted, float) and per_kg.value == round(counted / 70, 1)
    assert per_kg.unit == "cells/kg" and per_kg.in_specification
    assert rec.results["dose_band"].value == "adequate"
    computed = next(e for e in rec.audit if e.action == "value.computed")
    assert json.loads(computed.old_value or "") == {"cd34_cells": counted, "weight_kg": 70.0}
    assert computed.reason == "test.cd34_dose"
    assert cd34.world.site_called(f"{handle.id}:cd34_count:count_cd34:i1r0") == "MFG-EAST"
    await cd34.decide(handle, "approve", DecisionAction.APPROVE)
    assert (await cd34.finish(handle)).status == BatchStatus.COMPLETED


async def test_a_derived_value_chooses_the_branch(cd34: Harness) -> None:
    handle = await cd34.start(
        COMPUTED_DOSE, weight_kg=70, faults=[Fault(kind="oos", result="cd34_cells")]
    )
    rec = await cd34.finish(handle)
    assert rec.results["dose_band"].value == "low"
    assert rec.status == BatchStatus.ENDED and rec.ended_outcome == "not_manufacturable"


async def test_a_computed_value_out_of_specification_is_a_deviation(cd34: Harness) -> None:
    handle = await cd34.start(COMPUTED_DOSE, weight_kg=10)
    rec = await cd34.advance_until(handle, lambda r: bool(r.deviations), what="deviation")
    oos = rec.deviations[0]
    assert oos.kind == DeviationKind.OUT_OF_SPECIFICATION and oos.step == "cd34_dose"
    assert oos.results == ("cd34_per_kg",)
    assert rec.status == BatchStatus.QUARANTINED


async def test_a_batch_pinned_to_other_code_refuses_to_compute(cd34: Harness) -> None:
    body = COMPUTED_DOSE.model_dump(mode="json")
    text = json.dumps(body).replace(
        next(s["function_sha256"] for s in body["stages"][0]["steps"] if s["kind"] == "compute"),
        "0" * 64,
    )
    pinned = CompiledDefinition.model_validate(json.loads(text))
    handle = await cd34.start(pinned, weight_kg=70)
    rec = await cd34.advance_until(handle, lambda r: bool(r.deviations), what="deviation")
    assert rec.deviations[0].kind == DeviationKind.RETRIES_EXHAUSTED
    assert "does not have the code" in rec.deviations[0].description
    assert "cd34_per_kg" not in rec.results


def test_an_unknown_activity_never_compiles() -> None:
    with pytest.raises(DefinitionError) as err:
        process(
            "test-unknown-activity",
            version="1",
            title="t",
            specification={},
            activities=[],
            stages=[
                stage(
                    "s",
                    task("brew", call("make_coffee", timeout=minutes(1), attempts=2)),
                    gate("g", roles=(Role.QA,), meaning="ok"),
                )
            ],
        )
    assert [str(v) for v in err.value.violations] == [
        "test-unknown-activity: step 'brew': unknown activity: activity 'make_coffee' is "
        "neither the framework's (workflows.catalog) nor declared by the product "
        "(process(activities=...))"
    ]


def test_the_pinned_fingerprint_covers_the_constants_a_function_reads() -> None:
    # A changed dose factor in a module constant is changed code, as a changed literal is.
    fn = weight_based_dose.fn
    changed = types.FunctionType(fn.__code__, {**fn.__globals__, "MAX_DOSE_VG": 2e14})
    assert fingerprint(changed) != weight_based_dose.source_sha256
    same = types.FunctionType(fn.__code__, dict(fn.__globals__))
    assert fingerprint(same) == weight_based_dose.source_sha256
