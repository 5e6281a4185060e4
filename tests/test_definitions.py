"""Definition validation: each rule refuses with product, step and rule named."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from activities import KNOWN_ACTIVITIES
from definitions import CATALOG
from workflows import (
    DefinitionError,
    Role,
    call,
    days,
    decide,
    gate,
    handoff,
    hold,
    hours,
    minutes,
    process,
    repeat,
    stage,
    task,
    validate,
    wait_for,
    within,
)
from workflows.language import Handoff, Policy

OK = call("book_slot", at="manufacturing_site", timeout=minutes(1), attempts=3)


def _errors(*steps, spec=None) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(DefinitionError) as info:
        process(
            "test-invalid",
            version="1",
            title="invalid",
            specification={} if spec is None else spec,
            stages=[stage("s", *steps)],
            known_activities=KNOWN_ACTIVITIES,
        )
    return [str(v) for v in info.value.violations]


def test_catalog_definitions_are_valid_and_hashed() -> None:
    for defn in CATALOG.values():
        assert validate(defn, known_activities=KNOWN_ACTIVITIES) == []
        assert len(defn.content_hash) == 64


def test_hash_changes_with_content() -> None:
    a = process(
        "test-a", version="1", title="t", specification={}, stages=[stage("s", task("t", OK))]
    )
    b = process(
        "test-a", version="1", title="t", specification={}, stages=[stage("s", task("u", OK))]
    )
    assert a.content_hash != b.content_hash


def test_step_without_timeout() -> None:
    errs = _errors(task("t", call("book_slot", timeout=None, attempts=3)))
    assert errs == [
        "test-invalid: step 't': no timeout: activity 'book_slot' needs a positive timeout"
    ]


def test_wait_without_deadline() -> None:
    assert any("no timeout" in e for e in _errors(wait_for("w", "e", ask=OK, deadline=None)))


def test_unbounded_retries() -> None:
    errs = _errors(task("t", call("book_slot", timeout=minutes(1), attempts=None)))
    assert errs and "step 't': unbounded retries" in errs[0]
    errs = _errors(task("t", call("book_slot", timeout=minutes(1), attempts=0)))
    assert "unbounded retries" in errs[0]


def test_retired_fields_load_from_pinned_definitions_only_with_their_one_value() -> None:
    """Definitions pinned in older batches carry `verify_identity` and `heartbeat`; they load
    (the replay histories depend on it), but no definition can opt out of identity checks."""
    step = handoff("h", from_party="a", to_party="b", container="X", deadline=days(1))
    old = {**step.model_dump(mode="json"), "verify_identity": True}
    old["ask"] = {
        "activity": "book_courier",
        "policy": {"timeout": "PT1M", "attempts": 3, "heartbeat": None},
    }
    assert Handoff.model_validate(old).name == "h"
    with pytest.raises(ValidationError, match=r"verify_identity.*no longer part"):
        Handoff.model_validate({**old, "verify_identity": False})
    with pytest.raises(ValidationError, match=r"heartbeat.*no longer part"):
        Policy.model_validate({"timeout": "PT1M", "attempts": 3, "heartbeat": "PT10S"})


def test_gate_without_role() -> None:
    errs = _errors(gate("g", roles=(), meaning="approval"))
    assert errs == ["test-invalid: step 'g': gate without a role: name the roles that may decide"]


def test_hold_naming_an_event_that_never_happens() -> None:
    errs = _errors(task("t", OK), hold("h", start="t", end="nowhere", max=hours(2)))
    assert any("hold names an event that never happens: end 'nowhere'" in e for e in errs)
    errs = _errors(hold("h", start="t", end="u", max=hours(2)), task("t", OK), task("u", OK))
    assert any("start 't' comes after the hold" in e for e in errs)


def test_unreachable_steps() -> None:
    errs = _errors(gate("g", roles=(Role.QA,), meaning="m", requires=("later",)), task("later", OK))
    assert any("step 'g': unreachable step" in e for e in errs)
    errs = _errors(repeat("r", task("t", OK), until="x", max_times=0))
    assert any(
        "step 'r': unreachable step: a repeat of max_times < 1 never runs" in e for e in errs
    )
    errs = _errors(decide("d", ("x",)))
    assert any("judges 'x', which no earlier step records" in e for e in errs)


def test_duplicate_step_name() -> None:
    errs = _errors(task("t", OK), task("t", OK))
    assert errs == ["test-invalid: step 't': duplicate step name: step names must be unique"]


def test_unknown_activity_and_result_without_spec() -> None:
    errs = _errors(
        wait_for(
            "w",
            "e",
            ask=call("teleport", timeout=minutes(1), attempts=1),
            deadline=days(1),
            records=("y",),
        ),
        decide("d", ("y",)),
    )
    assert any("unknown activity: ask 'teleport'" in e for e in errs)
    assert any("result without specification: 'y' has no limit" in e for e in errs)


def test_every_violation_is_reported_at_once() -> None:
    errs = _errors(
        task("t", call("book_slot", timeout=None, attempts=None)),
        gate("g", roles=(), meaning="m"),
    )
    assert len(errs) == 3


def test_definition_is_frozen() -> None:
    defn = next(iter(CATALOG.values()))
    with pytest.raises(ValidationError):
        defn.version = "2"  # type: ignore[misc]
    assert timedelta(hours=48) in [getattr(s, "max", None) for _, s in defn.steps()]


def test_specification_line_that_no_step_records() -> None:
    errs = _errors(task("t", OK), spec={"dose": within(max=1)})
    assert errs == [
        "test-invalid: step '-': specification line never recorded: 'dose' is in the "
        "specification but no step records it (a task's or wait's records=)"
    ]


def test_computed_result_needs_a_specification_line() -> None:
    dose = call("calculate_dose", timeout=minutes(1), attempts=1, dose_per_kg="1", per_vial="1")
    errs = _errors(task("dose", dose, records=("dose_vg",)))
    assert any("result without specification: records 'dose_vg'" in e for e in errs)


def test_releasing_product_must_record_its_specification_before_release() -> None:
    lims = call("request_release_test", timeout=minutes(1), attempts=1)
    errs = _errors(
        task("t", OK),
        gate("release", roles=(Role.QA,), meaning="release", requires=("t",), release=True),
        wait_for("late_assay", "lims.result", ask=lims, deadline=days(1), records=("x",)),
        spec={"x": within(min=1)},
    )
    assert errs == [
        "test-invalid: step '-': specification not judged before release: 'x' is first "
        "recorded after the release gate, which must judge it"
    ]
