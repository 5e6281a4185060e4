"""FHIR R5 BiologicallyDerivedProduct and BiologicallyDerivedProductDispense of a batch, each
checked by the standard's own models (fhir.resources, FHIR 5.0.0)."""

from __future__ import annotations

import json
from typing import Any

import fhir.resources
import pytest
from fhir.resources.biologicallyderivedproduct import BiologicallyDerivedProduct
from fhir.resources.biologicallyderivedproductdispense import (
    BiologicallyDerivedProductDispense,
)

from records import biologically_derived_product, biologically_derived_product_dispense
from records.fhir import COI_SYSTEM, PSEUDONYM_SYSTEM, dispense_status, product_status
from tests.records.factories import exceptional_record
from workflows import ProductCategory
from workflows.model import BatchStatus, StepState

BATCH = "B-FHIR0001"
PSEUDONYM = "PSN-7F3A9C21"


def r5_problems(resource: dict[str, Any]) -> list[str]:
    """What the R5 model of the resource's type refuses in it; empty when it is valid R5."""
    assert fhir.resources.__fhir_version__ == "5.0.0"
    model = {
        "BiologicallyDerivedProduct": BiologicallyDerivedProduct,
        "BiologicallyDerivedProductDispense": BiologicallyDerivedProductDispense,
    }[resource["resourceType"]]
    try:
        model.model_validate(resource)
    except ValueError as err:
        return [str(err)]
    return []


def test_product_carries_identity_status_and_results() -> None:
    record = exceptional_record(BATCH).model_copy(update={"status": BatchStatus.RELEASED})

    product = biologically_derived_product(
        record, patient_pseudonym=PSEUDONYM, category=ProductCategory.CELLS
    )

    assert r5_problems(product) == []
    assert product["resourceType"] == "BiologicallyDerivedProduct"
    assert {"system": COI_SYSTEM, "value": "COI-0000451X"} in product["identifier"]
    assert product["biologicalSourceEvent"] == {"system": COI_SYSTEM, "value": "COI-0000451X"}
    assert product["productCategory"] == {
        "system": "http://hl7.org/fhir/product-category",
        "code": "cells",
        "display": "Cells",
    }
    assert product["productStatus"] == {
        "system": "http://hl7.org/fhir/biologicallyderived-product-status",
        "code": "available",
    }
    assert product["processingFacility"][0]["identifier"]["value"] == "MS-Leiden"
    assert product["collection"]["collectedDateTime"] == "2025-03-01T11:00:00Z"
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

    assert r5_problems(dispense) == []
    assert dispense["status"] == "issued"
    assert dispense["product"]["reference"] == f"BiologicallyDerivedProduct/{BATCH}"
    assert dispense["patient"] == {
        "type": "Patient",
        "identifier": {"system": PSEUDONYM_SYSTEM, "value": PSEUDONYM},
    }
    assert dispense["whenHandedOver"] == "2025-03-16T08:25:00Z"
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
    assert r5_problems(dispense) == []


def test_only_a_pseudonym_can_name_the_patient() -> None:
    with pytest.raises(ValueError, match="pseudonym"):
        biologically_derived_product_dispense(
            exceptional_record(BATCH), patient_pseudonym="Jane Doe"
        )


def test_the_category_is_the_definitions_or_absent() -> None:
    record = exceptional_record(BATCH)
    for category in ProductCategory:
        product = biologically_derived_product(record, category=category)
        assert product["productCategory"]["code"] == category.value
        assert r5_problems(product) == []
    # A definition that declares no category gets none: an LNP is not "cells".
    undeclared = biologically_derived_product(record)
    assert "productCategory" not in undeclared and r5_problems(undeclared) == []


def test_the_r5_models_refuse_what_r5_does_not_allow() -> None:
    # The check these tests rely on is not a formality: R4 elements, wrong types, a missing
    # patient and a time without a zone are all refused.
    good = biologically_derived_product(exceptional_record(BATCH))
    assert r5_problems({**good, "quantity": 1}) != []  # R4's quantity is not R5
    assert r5_problems({**good, "productStatus": "available"}) != []  # a Coding, not a code
    dispense = biologically_derived_product_dispense(
        exceptional_record(BATCH), patient_pseudonym=PSEUDONYM
    )
    assert r5_problems({k: v for k, v in dispense.items() if k != "patient"}) != []
    assert r5_problems({**dispense, "whenHandedOver": "2025-03-16T08:25:00"}) != []
