"""Call parameters are typed (text, numbers, yes/no, durations, choices) and checked when
the process compiles; they reach the activity as text."""

from __future__ import annotations

import pytest

from tests.harness import Harness
from workflows import (
    DefinitionError,
    Role,
    activity,
    call,
    days,
    gate,
    minutes,
    param,
    process,
    stage,
    task,
    within,
)
from workflows.model import BatchStatus, DecisionAction

TYPED = process(
    "test-typed-params",
    version="1",
    title="A weight-based dose whose parameters are numbers, not text",
    specification={"dose_vg": within(max=1e14, unit="vg"), "vials_needed": within(min=1)},
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            task(
                "dose",
                call(
                    "calculate_dose",
                    timeout=minutes(1),
                    attempts=2,
                    dose_per_kg=5e11,
                    per_vial=1e13,
                ),
                records=("dose_vg", "vials_needed"),
            ),
            gate("approve", roles=(Role.QA,), meaning="approval"),
        )
    ],
)


async def test_numbers_reach_the_activity(harness: Harness) -> None:
    from vein2vein.worker import build_worker, make_world

    acts = make_world(
        harness.client, ledger=harness.ledger, world=harness.world, task_queue="typed-params"
    )
    async with build_worker(harness.client, acts, products=[TYPED], task_queue="typed-params"):
        from tests.harness import order
        from workflows.client import start_batch

        handle = await start_batch(
            harness.client, TYPED, order(weight_kg=70), task_queue="typed-params"
        )
        harness.started.append(handle)
        rec = await harness.until_waiting(handle, "decision at approve")
        assert rec.results["dose_vg"].value == 5e11 * 70
        assert rec.results["vials_needed"].value == 4.0
        await harness.decide(handle, "approve", DecisionAction.APPROVE)
        assert (await harness.finish(handle)).status == BatchStatus.COMPLETED


def test_parameters_are_checked_when_the_process_compiles() -> None:
    count = activity(
        "count_cells",
        "Count cells",
        params={"replicates": param("integer"), "method": param("choice", "flow", "manual")},
    )
    with pytest.raises(DefinitionError) as err:
        process(
            "test-bad-params",
            version="1",
            title="t",
            specification={},
            activities=[count],
            stages=[
                stage(
                    "s",
                    task(
                        "book",
                        call("book_slot", timeout=minutes(1), attempts=2, days="two weeks"),
                    ),
                    task("typo", call("book_slot", timeout=minutes(1), attempts=2, dayz=14)),
                    task(
                        "count",
                        call(
                            "count_cells",
                            timeout=minutes(1),
                            attempts=2,
                            replicates=2.5,
                            method="pcr",
                        ),
                    ),
                    task(
                        "ok",
                        call(
                            "count_cells",
                            timeout=minutes(1),
                            attempts=2,
                            replicates=3,
                            method="flow",
                        ),
                    ),
                    gate("g", roles=(Role.QA,), meaning="ok"),
                )
            ],
        )
    assert [f"{v.step}: {v.rule}: {v.message}" for v in err.value.violations] == [
        "book: bad parameter: activity 'book_slot': 'days' must be an integer, not 'two weeks'",
        "typo: unknown parameter: activity 'book_slot' takes no parameter 'dayz'",
        "count: bad parameter: activity 'count_cells': 'replicates' must be an integer, not 2.5",
        "count: bad parameter: activity 'count_cells': 'method' must be one of flow, manual, "
        "not 'pcr'",
    ]


def test_a_duration_parameter_is_written_as_a_duration() -> None:
    c = call("book_slot", timeout=minutes(1), attempts=2, lead=days(2))
    assert c.params == {"lead": "P2D"}
    assert param("duration").problem("P2D") is None
    assert param("duration").problem("two days") is not None
