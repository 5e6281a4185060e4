"""Example event bodies exist for every step of every product that waits for a report, are
valid API bodies, and carry results inside the product's own specification."""

from __future__ import annotations

import pytest

from definitions import CATALOG
from tests.products import TEST_PRODUCTS
from vein2vein.examples import example_event, examples_by_type, reported_steps
from vein2vein.service.api import EVENT_EXAMPLES, EventReport
from workflows.definition import CompiledDefinition

PRODUCTS = {**CATALOG, **TEST_PRODUCTS}


@pytest.mark.parametrize("defn", PRODUCTS.values(), ids=list(PRODUCTS))
def test_every_reported_step_has_a_valid_example_in_specification(
    defn: CompiledDefinition,
) -> None:
    for step, event in reported_steps(defn):
        body = EventReport.model_validate(example_event(defn, step))
        assert (body.step, body.type) == (step, event)
        for name, result in body.results.items():
            limit = defn.specification.get(name)
            assert limit is None or limit.accepts(result.value), (defn.product, name)
            assert limit is None or result.unit == limit.unit
        if body.custody is not None and body.custody.temperature is not None:
            t = body.custody.temperature
            assert t.logger_id and t.readings and t.interval_seconds and t.min_c <= t.max_c


def test_the_reported_steps_are_every_step_that_waits_for_a_report() -> None:
    car_t = CATALOG["autologous-cd19-car-t"]
    steps = dict(reported_steps(car_t))
    assert steps["receipt_at_site"] == "custody" and steps["viability"] == "lims.result"
    assert "qa_disposition" not in steps and "allocate_coi" not in steps


def test_the_api_documents_one_example_per_event_type() -> None:
    assert set(EVENT_EXAMPLES) == set(examples_by_type(CATALOG))
    assert {"custody", "lims.result", "mes.operation_done", "collection.completed"} <= set(
        EVENT_EXAMPLES
    )


def test_a_step_without_a_report_has_no_example() -> None:
    car_t = CATALOG["autologous-cd19-car-t"]
    with pytest.raises(ValueError, match="waits for no report"):
        example_event(car_t, "qa_disposition")
    with pytest.raises(KeyError):
        example_event(car_t, "no_such_step")
