"""Call parameters are typed (text, numbers, yes/no, durations, choices) and checked when
the process compiles; they reach the activity as text."""

from __future__ import annotations

import pytest

from tests.harness import Harness
from tests.products import TYPED_PARAMS
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
)
from workflows.model import BatchStatus, DecisionAction


async def test_numbers_reach_the_activity(harness: Harness) -> None:
    handle = await harness.start(TYPED_PARAMS, weight_kg=70)
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
