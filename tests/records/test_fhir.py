"""FHIR R5 BiologicallyDerivedProduct and BiologicallyDerivedProductDispense of a batch."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from records import (
    biologically_derived_product,
    biologically_derived_product_dispense,
    validate_structure,
)
from records.fhir import COI_SYSTEM, PSEUDONYM_SYSTEM, dispense_status, product_status
from tests.records.factories import exceptional_record
from workflows.model import BatchStatus, StepState

BATCH = "B-FHIR0001"
PSEUDONYM = "PSN-7F3A9C21"


def test_product_carries_identity_status_and_results() -> None:
    record = exceptional_record(BATCH).model_copy(update={"status": BatchStatus.RELEASED})

    product = biologically_derived_product(record, patient_pseudonym=PSEUDONYM)

    assert validate_structure(product) == []
    assert product["resourceType"] == "BiologicallyDerivedProduct"
    assert {"system": COI_SYSTEM, "value": "COI-0000451X"} in product["identifier"]
    assert product["biologicalSourceEvent"] == {"system": COI_SYSTEM, "value": "COI-0000451X"}
    assert product["productCategory"]["code"] == "cells"
    assert product["productStatus"] == {
        "system": "http://hl7.org/fhir/biologicallyderived-product-status",
        "code": "available",
    }
    assert product["processingFacility"][0]["identifier"]["value"] == "MS-Leiden"
    assert product["collection"]["collectedDateTime"] == "2025-03-01T11:00:00+00:00"
    assert product["collection"]["source"]["identifier"]["system"] == PSEUDONYM_SYSTEM
    by_name = {p["type"]["text"]: p for p in product["property"]}
    assert by_name["viability"]["valueQuantity"] == {"value": 71.0, "unit": "%"}
    assert by_name["viability in specification"]["valueBoolean"] is False
    assert by_name["sterility"]["valueString"] == "no growth"
    json.dumps(product, allow_nan=False)  # plain JSON, nothing a FHIR server would refuse


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (BatchStatus.PLANNED, "unavailable"),
        (BatchStatus.ACTIVE, "unavailable"),
        (BatchStatus.HELD, "unavailable"),
        (BatchStatus.QUARANTINED, "unavailable"),
        (BatchStatus.RELEASED, "available"),
        (BatchStatus.COMPLETED, "unavailable"),
        (BatchStatus.ABANDONED, "unavailable"),
    ],
)
def test_product_status_uses_the_r5_codes(status: BatchStatus, code: str) -> None:
    assert product_status(status) == code


def test_dispense_records_the_infusion() -> None:
    record = exceptional_record(BATCH)

    dispense = biologically_derived_product_dispense(record, patient_pseudonym=PSEUDONYM)

    assert validate_structure(dispense) == []
    assert dispense["status"] == "issued"
    assert dispense["product"]["reference"] == f"BiologicallyDerivedProduct/{BATCH}"
    assert dispense["patient"] == {
        "type": "Patient",
        "identifier": {"system": PSEUDONYM_SYSTEM, "value": PSEUDONYM},
    }
    assert dispense["whenHandedOver"] == "2025-03-16T08:25:00+00:00"
    assert dispense["performer"][0]["actor"]["identifier"]["value"] == "physician-3"
    assert dispense["destination"]["display"] == "TC-Lyon"
    assert "Exceptional release" in dispense["note"][0]["text"]


def test_dispense_status_follows_the_batch() -> None:
    infused = exceptional_record(BATCH)
    not_infused = infused.model_copy(
        update={"steps": [s for s in infused.steps if s.step != "infusion"]}
    )
    failed = infused.model_copy(
        update={"steps": [s.model_copy(update={"state": StepState.FAILED}) for s in infused.steps]}
    )
    assert dispense_status(infused) == "issued"
    assert dispense_status(not_infused) == "allocated"
    assert dispense_status(failed) == "allocated"
    unreleased = not_infused.model_copy(update={"released": False, "status": BatchStatus.ACTIVE})
    assert dispense_status(unreleased) == "preparation"
    abandoned = unreleased.model_copy(update={"status": BatchStatus.ABANDONED})
    assert dispense_status(abandoned) == "unfulfilled"
    dispense = biologically_derived_product_dispense(unreleased, patient_pseudonym=PSEUDONYM)
    assert "whenHandedOver" not in dispense
    assert validate_structure(dispense) == []


def test_only_a_pseudonym_can_name_the_patient() -> None:
    with pytest.raises(ValueError, match="pseudonym"):
        biologically_derived_product_dispense(
            exceptional_record(BATCH), patient_pseudonym="Jane Doe"
        )


def _broken(resource: dict[str, Any], path: list[str | int], value: object) -> dict[str, Any]:
    copied = copy.deepcopy(resource)
    target: Any = copied
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copied


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (["status"], "completed", "BiologicallyDerivedProductDispense.status: 'completed'"),
        (["status"], _DELETE, "status: is required"),
        (["product"], _DELETE, "product: is required"),
        (["patient"], {"reference": "Group/1"}, "must refer to Patient, not Group"),
        (["patient"], {"type": "Patient"}, "needs reference, identifier or display"),
        (["whenHandedOver"], "2025-03-16T08:25:00", "must carry a time zone"),
        (["whenHandedOver"], "16/03/2025", "must be a FHIR dateTime"),
        (["note"], [], "FHIR forbids null and empty values"),
        (["quantity"], {"value": "one"}, "quantity.value: must be a finite number"),
        (["dispensedOn"], "2025-03-16", "dispensedOn: is not an R5 element"),
    ],
)
def test_validate_structure_finds_dispense_problems(
    path: list[str | int], value: object, problem: str
) -> None:
    good = biologically_derived_product_dispense(
        exceptional_record(BATCH), patient_pseudonym=PSEUDONYM
    )
    problems = validate_structure(_broken(good, path, value))
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (["productCategory"], "cells", "productCategory: must be an object"),
        (["productStatus", "code"], "applied", "'applied' is not one of available, unavailable"),
        (["quantity"], 1, "quantity: is not an R5 element"),  # R4 had quantity; R5 has not
        (["property", 0, "valueString"], "71 %", "only one of valueQuantity, valueString"),
        (["property", 0, "valueQuantity"], _DELETE, "one of valueBoolean"),
        (["identifier", 0, "system"], "urn:vein2vein: coi", "must be a uri"),
        (["processingFacility", 0, "type"], "Location", "must refer to Organization"),
        (["id"], "B_1/2", "must be a FHIR id"),
    ],
)
def test_validate_structure_finds_product_problems(
    path: list[str | int], value: object, problem: str
) -> None:
    good = biologically_derived_product(exceptional_record(BATCH))
    assert validate_structure(good) == []
    problems = validate_structure(_broken(good, path, value))
    assert any(problem in p for p in problems), problems


def test_validate_structure_names_unknown_resource_types() -> None:
    assert validate_structure({"resourceType": "Patient"}) == [
        "resourceType must be BiologicallyDerivedProduct or BiologicallyDerivedProductDispense,"
        " not 'Patient'"
    ]
