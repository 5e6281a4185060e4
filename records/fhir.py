"""FHIR R5 views of a batch: the product (`BiologicallyDerivedProduct`) and its infusion
(`BiologicallyDerivedProductDispense`), for the treatment centre's clinical systems.

Each resource is built by the standard's own models (`fhir.resources` 8, FHIR 5.0.0), which
refuse an element R5 does not have, a missing required element, a wrong data type or a dateTime
without a zone; what they do not check (required code bindings) is typed here as `Literal`.

Only pseudonyms cross this boundary: the patient is referenced by the pseudonym identifier the
order carries, never by name or record number. Identifiers use `urn:vein2vein:*` systems; a
deployment with ISBT 128 or hospital identifier systems maps them at its integration layer.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any, Literal

from fhir.resources.biologicallyderivedproduct import BiologicallyDerivedProduct
from fhir.resources.biologicallyderivedproductdispense import (
    BiologicallyDerivedProductDispense,
)
from fhir_core.fhirabstractmodel import FHIRAbstractModel

from workflows.model import PSEUDONYM_PATTERN, BatchRecord, BatchStatus, StepRun, StepState
from workflows.vocabulary import PartyKind, ProductCategory

__all__ = [
    "BATCH_SYSTEM",
    "COI_SYSTEM",
    "ORDER_SYSTEM",
    "PSEUDONYM_SYSTEM",
    "biologically_derived_product",
    "biologically_derived_product_dispense",
    "dispense_status",
    "product_status",
]

#: Code system of R5 BiologicallyDerivedProduct.productCategory.
PRODUCT_CATEGORY_SYSTEM = "http://hl7.org/fhir/product-category"
#: Code system of R5 BiologicallyDerivedProduct.productStatus.
PRODUCT_STATUS_SYSTEM = "http://hl7.org/fhir/biologicallyderived-product-status"

#: Identifier system of chain-of-identity identifiers.
COI_SYSTEM = "urn:vein2vein:coi"
#: Identifier system of batch IDs.
BATCH_SYSTEM = "urn:vein2vein:batch"
#: Identifier system of treatment order IDs (the ServiceRequest the product fulfils).
ORDER_SYSTEM = "urn:vein2vein:order"
#: Identifier system of patient pseudonyms issued by the pseudonymisation service.
PSEUDONYM_SYSTEM = "urn:vein2vein:patient-pseudonym"
#: Identifier system of sites (treatment centres, manufacturing sites).
SITE_SYSTEM = "urn:vein2vein:site"
#: Identifier system of the people who perform steps.
USER_SYSTEM = "urn:vein2vein:user"
#: Code system of result names (the product definition's specification).
RESULT_SYSTEM = "urn:vein2vein:result"


#: R5 productStatus codes (R6 adds processed, applied and discarded).
ProductStatus = Literal["available", "unavailable"]
#: R5 BiologicallyDerivedProductDispense.status codes (a required binding).
DispenseStatus = Literal[
    "preparation",
    "in-progress",
    "allocated",
    "issued",
    "unfulfilled",
    "returned",
    "entered-in-error",
    "unknown",
]

_CATEGORY_DISPLAY = {
    ProductCategory.ORGAN: "Organ",
    ProductCategory.TISSUE: "Tissue",
    ProductCategory.FLUID: "Fluid",
    ProductCategory.CELLS: "Cells",
    ProductCategory.BIOLOGICAL_AGENT: "BiologicalAgent",
}


def product_status(status: BatchStatus) -> ProductStatus:
    """R5 productStatus code for a batch status.

    R5's value set has only "available" and "unavailable" ("processed", "applied" and
    "discarded" arrive in R6): only a released product is available for use; an infused,
    abandoned, quarantined or unfinished one is not.
    """
    return "available" if status is BatchStatus.RELEASED else "unavailable"


def dispense_status(record: BatchRecord, *, infusion_step: str = "infusion") -> DispenseStatus:
    """R5 dispense status: issued once infused, allocated once released, else preparation.

    R5 has no "completed" dispense status; "issued" (the product was picked up by the
    clinical team) is its final state for a product that reached the patient.
    """
    if _infusion_time(record, infusion_step) is not None:
        return "issued"
    if record.status in (BatchStatus.ABANDONED, BatchStatus.ENDED):
        return "unfulfilled"
    if record.released or record.status is BatchStatus.RELEASED:
        return "allocated"
    return "preparation"


def biologically_derived_product(
    record: BatchRecord,
    *,
    patient_pseudonym: str | None = None,
    collection_step: str = "collection",
    category: ProductCategory | None = None,
) -> dict[str, Any]:
    """The batch's product as an R5 BiologicallyDerivedProduct resource (a JSON-ready dict).

    `category` is the product category its definition declares (`process(product_category=)`);
    a definition that declares none leaves the element out rather than guess.
    `collection_step` names the definition's collection step; its end time becomes
    `collection.collectedDateTime`. Every recorded result becomes a `property`, and each
    result assessed against the specification adds an "<name> in specification" boolean.
    Raises pydantic's `ValidationError` if the resource is not valid R5.
    """
    collected = _step_time(record, collection_step)
    resource: dict[str, Any] = {
        "resourceType": "BiologicallyDerivedProduct",
        "id": record.batch_id,
        "identifier": _identifiers(record),
        "productCategory": (
            {
                "system": PRODUCT_CATEGORY_SYSTEM,
                "code": category.value,
                "display": _CATEGORY_DISPLAY[category],
            }
            if category is not None
            else None
        ),
        "productCode": {"text": record.product},
        "request": [_order_reference(record)],
        "biologicalSourceEvent": (
            {"system": COI_SYSTEM, "value": record.coi} if record.coi else None
        ),
        "processingFacility": [
            _site(record.site_of_kind(PartyKind.MANUFACTURING_SITE), "Organization")
        ],
        "productStatus": {
            "system": PRODUCT_STATUS_SYSTEM,
            "code": product_status(record.status),
        },
        "collection": {
            "source": _patient(patient_pseudonym) if patient_pseudonym else None,
            "collectedDateTime": _instant(collected) if collected else None,
        },
        "property": _properties(record),
    }
    return _built(BiologicallyDerivedProduct, resource)


def biologically_derived_product_dispense(
    record: BatchRecord,
    *,
    patient_pseudonym: str,
    infusion_step: str = "infusion",
) -> dict[str, Any]:
    """The batch's infusion as an R5 BiologicallyDerivedProductDispense resource.

    `infusion_step` names the definition's infusion step (or result); once it is done the
    dispense is "issued" and handed over at its end time. An exceptional release is stated in
    a note, so the clinical team sees it beside the product. Raises pydantic's
    `ValidationError` if the resource is not valid R5.
    """
    infused = _infusion_time(record, infusion_step)
    run = _last_done(record, infusion_step)
    notes = []
    if record.exceptional_release:
        notes.append({"text": "Exceptional release: product supplied out of specification."})
    resource: dict[str, Any] = {
        "resourceType": "BiologicallyDerivedProductDispense",
        "id": f"{record.batch_id}-dispense",
        "identifier": [{"system": BATCH_SYSTEM, "value": record.batch_id}],
        "basedOn": [_order_reference(record)],
        "status": dispense_status(record, infusion_step=infusion_step),
        "product": {
            "reference": f"BiologicallyDerivedProduct/{record.batch_id}",
            "type": "BiologicallyDerivedProduct",
        },
        "patient": _patient(patient_pseudonym),
        "performer": [
            {"actor": _user(run.performed_by)} if run and run.performed_by else None,
        ],
        "destination": _site(record.site_of_kind(PartyKind.TREATMENT_CENTRE), "Location"),
        "whenHandedOver": _instant(infused) if infused else None,
        "note": notes,
    }
    return _built(BiologicallyDerivedProductDispense, resource)


def _built(model: type[FHIRAbstractModel], resource: dict[str, Any]) -> dict[str, Any]:
    # The standard's model parses the resource (refusing what R5 does not allow) and writes it
    # back as FHIR JSON, so what leaves this module is what the model accepted.
    parsed = model.model_validate(_prune(resource))
    built: dict[str, Any] = json.loads(parsed.model_dump_json())
    return built


def _identifiers(record: BatchRecord) -> list[dict[str, str]]:
    identifiers = [{"system": BATCH_SYSTEM, "value": record.batch_id}]
    if record.coi:
        identifiers.append({"system": COI_SYSTEM, "value": record.coi})
    return identifiers


def _order_reference(record: BatchRecord) -> dict[str, Any]:
    return {
        "type": "ServiceRequest",
        "identifier": {"system": ORDER_SYSTEM, "value": record.order_id},
    }


def _patient(pseudonym: str) -> dict[str, Any]:
    # Refuse anything that is not a pseudonym, so a name can never be passed by mistake.
    if not re.fullmatch(PSEUDONYM_PATTERN, pseudonym):
        raise ValueError("patient_pseudonym is not a pseudonym issued for this order")
    return {"type": "Patient", "identifier": {"system": PSEUDONYM_SYSTEM, "value": pseudonym}}


def _site(site: str | None, resource_type: str) -> dict[str, Any] | None:
    if not site:
        return None
    return {
        "type": resource_type,
        "identifier": {"system": SITE_SYSTEM, "value": site},
        "display": site,
    }


def _user(user_id: str) -> dict[str, Any]:
    return {"type": "Practitioner", "identifier": {"system": USER_SYSTEM, "value": user_id}}


def _properties(record: BatchRecord) -> list[dict[str, Any]]:
    properties: list[dict[str, Any]] = []
    for result in record.results.values():
        properties.append(
            {"type": _result_concept(result.name), **_value(result.value, result.unit)}
        )
        if result.in_specification is not None:
            properties.append(
                {
                    "type": _result_concept(result.name, "in specification"),
                    "valueBoolean": result.in_specification,
                }
            )
    return properties


def _result_concept(name: str, aspect: str = "") -> dict[str, Any]:
    label = f"{name} {aspect}".strip()
    code = re.sub(r"\s+", "-", label)
    return {"coding": [{"system": RESULT_SYSTEM, "code": code}], "text": label}


def _value(value: float | str, unit: str) -> dict[str, Any]:
    if isinstance(value, str) or not math.isfinite(value):
        return {"valueString": f"{value} {unit}".strip()}
    quantity: dict[str, Any] = {"value": value}
    if unit:
        quantity["unit"] = unit
    return {"valueQuantity": quantity}


def _last_done(record: BatchRecord, step: str) -> StepRun | None:
    runs = [r for r in record.steps if r.step == step and r.state is StepState.DONE]
    return runs[-1] if runs else None


def _step_time(record: BatchRecord, step: str) -> datetime | None:
    run = _last_done(record, step)
    return (run.ended_at or run.started_at) if run else None


def _infusion_time(record: BatchRecord, infusion_step: str) -> datetime | None:
    done = _step_time(record, infusion_step)
    if done is not None:
        return done
    result = record.results.get(infusion_step)
    return result.at if result else None


def _instant(moment: datetime) -> str:
    # FHIR requires a zone on every dateTime with a time; the engine records UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _prune(value: Any) -> Any:
    # FHIR forbids null, empty strings, arrays and objects: drop them instead of sending them.
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = [_prune(v) for v in value]
        return [v for v in items if v not in (None, "", [], {})]
    return value
