"""Branches choose steps by a recorded result or an order option; an end closes a batch
cleanly, compensating what was done, with no deviation and no abandonment."""

from __future__ import annotations

import pytest

from activities import Fault
from definitions import IN_VIVO_PATIENT
from tests.harness import Harness
from tests.products import ENDS_EARLY, MANY_PARTIES, MANY_PARTY_SITES
from workflows import (
    DefinitionError,
    Role,
    branch,
    call,
    days,
    end,
    follow_up,
    gate,
    minutes,
    one_of,
    option,
    parallel,
    process,
    stage,
    task,
    wait_for,
    within,
)
from workflows.model import BatchStatus


async def test_a_patient_found_not_eligible_ends_cleanly(harness: Harness) -> None:
    handle = await harness.start(
        IN_VIVO_PATIENT, weight_kg=70, faults=[Fault(kind="oos", result="eligible")]
    )
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ENDED
    assert rec.ended_outcome == "not_eligible"
    assert rec.results["eligible"].value == "no" and rec.results["eligible"].in_specification
    assert not rec.deviations and rec.abandoned_reason is None
    assert "dose_calculation" not in {s.step for s in rec.steps}
    taken = [e.new_value for e in rec.audit if e.action == "branch.taken"]
    assert taken == ["no"]
    assert [e.action for e in rec.audit][-3:] == ["batch.ended", "status.changed", "record.closed"]


async def test_ending_early_compensates_what_was_done(harness: Harness) -> None:
    handle = await harness.start(ENDS_EARLY, options={"manufacture": "no"})
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.ENDED and rec.ended_outcome == "not_manufacturable"
    assert rec.compensations == ["book_slot: release_slot"]
    assert harness.world.calls(f"{handle.id}:book_slot:release_slot:undo") == 1
    assert not rec.deviations


async def test_an_option_chooses_the_steps_that_run(harness: Harness) -> None:
    cryo = await harness.start(
        MANY_PARTIES, sites=MANY_PARTY_SITES, options={"apheresis_mode": "cryopreserved"}
    )
    fresh = await harness.start(MANY_PARTIES, sites=MANY_PARTY_SITES)
    recs = [await harness.until_waiting(h, "decision at release") for h in (cryo, fresh)]
    ran = [{s.step for s in r.steps} for r in recs]
    assert "cryopreservation" in ran[0] and "cryopreservation" not in ran[1]
    assert {"book_slot", "sterility_test"} <= ran[0] & ran[1]


def _errors(*steps: object, spec: dict[str, object] | None = None, **kw: object) -> list[str]:
    with pytest.raises(DefinitionError) as err:
        process(
            "test-bad",
            version="1",
            title="t",
            specification=spec or {},  # type: ignore[arg-type]
            stages=[stage("s", *steps)],  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )
    return [f"{v.step}: {v.rule}: {v.message}" for v in err.value.violations]


_OK = call("notify", timeout=minutes(1), attempts=2)
_ASSESS = wait_for("assess", "centre.assessed", deadline=days(1), records=("eligible",))
_G = gate("g", roles=(Role.QA,), meaning="ok")


def test_a_branch_must_cover_every_outcome_and_know_it_in_time() -> None:
    spec = {"eligible": one_of("yes", "no"), "count": within(min=1)}
    count = wait_for("count_it", "lab.counted", deadline=days(1), records=("count",))
    assert _errors(
        branch("early", on_result="eligible", cases={"yes": [task("a", _OK)]}),
        _ASSESS,
        branch("typo", on_result="eligible", cases={"yes": [], "no": [], "maybe": []}),
        count,
        branch("numeric", on_result="count", cases={"1": []}),
        branch("opt", on_option="route", cases={"iv": []}),
        spec=spec,
    ) == [
        "early: unreachable step: branches on result 'eligible', which no earlier step records",
        "early: outcome not covered: no case for no; add cases or `otherwise`",
        "typo: unknown case: 'maybe' is not an outcome of result 'eligible' (yes, no)",
        "numeric: branch on a numeric result: 'count' is numeric; branch on a qualitative "
        "result (its specification lists the values), e.g. one a compute step derives",
        "opt: unknown option: branches on option 'route', which the product does not declare",
    ]


def test_an_end_is_last_and_never_inside_a_group() -> None:
    visit = follow_up(
        "visits",
        "centre.visit",
        ask=call("schedule_visit", at="treatment_centre", timeout=minutes(1), attempts=2),
        visits=(days(30),),
        window=days(5),
    )
    errors = _errors(
        parallel("p", end("stop_in_parallel", "stopped"), task("t", _OK)),
        branch(
            "b",
            on_option="mode",
            cases={"a": [end("stop", "stopped"), task("after_stop", _OK)]},
            otherwise=[visit],
        ),
        _G,
        options=[option("mode", "a", "b")],
    )
    assert errors == [
        "stop_in_parallel: end inside a group: an end cannot stand inside parallel 'p'; "
        "place it in a stage or in a branch's case",
        "after_stop: unreachable step: it follows end 'stop', after which nothing runs",
        "visits: nested follow-up: a follow-up must stand at the top of a stage, not inside "
        "branch 'b'",
    ]
