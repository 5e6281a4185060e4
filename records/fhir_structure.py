"""Structural checks of the two FHIR R5 resources this project emits.

Not a full FHIR validator (no profiles, terminology servers or invariants beyond the ones
below): it catches what breaks a receiving system, which is an element that does not exist in
R5 (often an R4 name), a missing required element, a wrong data type, a code outside a
required value set, a reference to the wrong resource type, or an empty value (FHIR forbids
null, "", [] and {}).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "DISPENSE_STATUS_CODES",
    "PRODUCT_CATEGORY_SYSTEM",
    "PRODUCT_STATUS_CODES",
    "PRODUCT_STATUS_SYSTEM",
    "validate_structure",
]

#: Code system of R5 BiologicallyDerivedProduct.productCategory.
PRODUCT_CATEGORY_SYSTEM = "http://hl7.org/fhir/product-category"
#: Code system of R5 BiologicallyDerivedProduct.productStatus.
PRODUCT_STATUS_SYSTEM = "http://hl7.org/fhir/biologicallyderived-product-status"
#: The R5 productStatus codes (R6 adds processed, applied and discarded).
PRODUCT_STATUS_CODES = frozenset({"available", "unavailable"})
#: The R5 BiologicallyDerivedProductDispense.status codes (required binding).
DISPENSE_STATUS_CODES = frozenset(
    {
        "preparation",
        "in-progress",
        "allocated",
        "issued",
        "unfulfilled",
        "returned",
        "entered-in-error",
        "unknown",
    }
)

_Problems = list[str]
_Check = Callable[[Any, str, _Problems], None]

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_DATETIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
    r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?)?)?"
    r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?)?"
)


def validate_structure(resource: Mapping[str, Any]) -> list[str]:
    """Problems found in an R5 BiologicallyDerivedProduct or ...Dispense; empty when valid."""
    kind = resource.get("resourceType")
    check = _RESOURCES.get(kind) if isinstance(kind, str) else None
    if check is None:
        expected = " or ".join(sorted(_RESOURCES))
        return [f"resourceType must be {expected}, not {kind!r}"]
    problems: _Problems = []
    _no_empty_values(resource, str(kind), problems)
    check(resource, str(kind), problems)
    return problems


# Primitive types.


def _string(value: Any, path: str, out: _Problems) -> None:
    if not isinstance(value, str) or not value.strip():
        out.append(f"{path}: must be a non-empty string")


def _uri(value: Any, path: str, out: _Problems) -> None:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        out.append(f"{path}: must be a uri (a string without whitespace)")


def _code(value: Any, path: str, out: _Problems) -> None:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        out.append(f"{path}: must be a code (no leading, trailing or repeated whitespace)")


def _code_in(codes: frozenset[str]) -> _Check:
    def check(value: Any, path: str, out: _Problems) -> None:
        if value not in codes:
            out.append(f"{path}: {value!r} is not one of {', '.join(sorted(codes))}")

    return check


def _id(value: Any, path: str, out: _Problems) -> None:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        out.append(f"{path}: must be a FHIR id ([A-Za-z0-9-.], 1 to 64 characters)")


def _date_time(value: Any, path: str, out: _Problems) -> None:
    if not isinstance(value, str) or not _DATETIME.fullmatch(value):
        out.append(f"{path}: must be a FHIR dateTime, got {value!r}")
    elif "T" in value and not re.search(r"(Z|[+-]\d\d:\d\d)$", value):
        out.append(f"{path}: a dateTime with a time must carry a time zone")


def _boolean(value: Any, path: str, out: _Problems) -> None:
    if not isinstance(value, bool):
        out.append(f"{path}: must be a boolean")


def _integer(value: Any, path: str, out: _Problems) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        out.append(f"{path}: must be an integer")


def _decimal(value: Any, path: str, out: _Problems) -> None:
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if not valid or not math.isfinite(value):
        out.append(f"{path}: must be a finite number")


def _anything(value: Any, path: str, out: _Problems) -> None:
    """Elements this module does not inspect further (meta, text, extension...)."""


# Complex types.


def _object(
    fields: Mapping[str, _Check],
    *,
    required: tuple[str, ...] = (),
    one_of: tuple[str, ...] = (),
    one_of_required: bool = False,
) -> _Check:
    """A JSON object with exactly the named elements; `one_of` lists a choice type's names."""
    known = {"id", "extension", "modifierExtension", *fields}

    def check(value: Any, path: str, out: _Problems) -> None:
        if not isinstance(value, Mapping):
            out.append(f"{path}: must be an object")
            return
        out.extend(f"{path}.{key}: is not an R5 element here" for key in value if key not in known)
        out.extend(f"{path}.{key}: is required" for key in required if key not in value)
        for key, field_check in fields.items():
            if key in value:
                field_check(value[key], f"{path}.{key}", out)
        chosen = [key for key in one_of if key in value]
        if len(chosen) > 1:
            out.append(f"{path}: only one of {', '.join(chosen)} may be present")
        if one_of_required and not chosen:
            out.append(f"{path}: one of {', '.join(one_of)} is required")

    return check


def _many(item: _Check) -> _Check:
    def check(value: Any, path: str, out: _Problems) -> None:
        if not isinstance(value, list):
            out.append(f"{path}: must be an array")
            return
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]", out)

    return check


_CODING = _object(
    {
        "system": _uri,
        "version": _string,
        "code": _code,
        "display": _string,
        "userSelected": _boolean,
    }
)
_CODEABLE_CONCEPT = _object({"coding": _many(_CODING), "text": _string})
_PERIOD = _object({"start": _date_time, "end": _date_time})
_QUANTITY = _object(
    {"value": _decimal, "comparator": _code, "unit": _string, "system": _uri, "code": _code}
)
_SIMPLE_QUANTITY = _object({"value": _decimal, "unit": _string, "system": _uri, "code": _code})
_RANGE = _object({"low": _SIMPLE_QUANTITY, "high": _SIMPLE_QUANTITY})
_RATIO = _object({"numerator": _QUANTITY, "denominator": _SIMPLE_QUANTITY})
_IDENTIFIER = _object(
    {
        "use": _code,
        "type": _CODEABLE_CONCEPT,
        "system": _uri,
        "value": _string,
        "period": _PERIOD,
        "assigner": _anything,
    }
)
_ANNOTATION = _object(
    {"authorReference": _anything, "authorString": _string, "time": _date_time, "text": _string},
    required=("text",),
    one_of=("authorReference", "authorString"),
)


def _coding_from(system: str, codes: frozenset[str]) -> _Check:
    """A Coding whose code must come from `codes` when it uses `system`."""
    code_check = _code_in(codes)

    def check(value: Any, path: str, out: _Problems) -> None:
        _CODING(value, path, out)
        if isinstance(value, Mapping) and value.get("system") == system:
            code_check(value.get("code"), f"{path}.code", out)

    return check


def _reference(*targets: str) -> _Check:
    shape = _object(
        {"reference": _string, "type": _uri, "identifier": _IDENTIFIER, "display": _string}
    )

    def check(value: Any, path: str, out: _Problems) -> None:
        shape(value, path, out)
        if not isinstance(value, Mapping):
            return
        if not any(key in value for key in ("reference", "identifier", "display")):
            out.append(f"{path}: a Reference needs reference, identifier or display")
        target = value.get("type")
        reference = value.get("reference")
        if target is None and isinstance(reference, str) and reference.count("/") == 1:
            target = reference.split("/")[0]
        if target is not None and target not in targets:
            out.append(f"{path}: must refer to {' | '.join(targets)}, not {target}")

    return check


def _no_empty_values(value: Any, path: str, out: _Problems) -> None:
    if value is None or value in ("", [], {}):
        out.append(f"{path}: FHIR forbids null and empty values; omit the element")
    elif isinstance(value, Mapping):
        for key, element in value.items():
            _no_empty_values(element, f"{path}.{key}", out)
    elif isinstance(value, list):
        for index, element in enumerate(value):
            _no_empty_values(element, f"{path}[{index}]", out)


_DOMAIN_RESOURCE: dict[str, _Check] = {
    "resourceType": _anything,
    "id": _id,
    "meta": _anything,
    "implicitRules": _uri,
    "language": _code,
    "text": _anything,
    "contained": _many(_anything),
}

_PRODUCT = _object(
    {
        **_DOMAIN_RESOURCE,
        "productCategory": _CODING,
        "productCode": _CODEABLE_CONCEPT,
        "parent": _many(_reference("BiologicallyDerivedProduct")),
        "request": _many(_reference("ServiceRequest")),
        "identifier": _many(_IDENTIFIER),
        "biologicalSourceEvent": _IDENTIFIER,
        "processingFacility": _many(_reference("Organization")),
        "division": _string,
        "productStatus": _coding_from(PRODUCT_STATUS_SYSTEM, PRODUCT_STATUS_CODES),
        "expirationDate": _date_time,
        "collection": _object(
            {
                "collector": _reference("Practitioner", "PractitionerRole"),
                "source": _reference("Patient", "Organization"),
                "collectedDateTime": _date_time,
                "collectedPeriod": _PERIOD,
            },
            one_of=("collectedDateTime", "collectedPeriod"),
        ),
        "storageTempRequirements": _RANGE,
        "property": _many(
            _object(
                {
                    "type": _CODEABLE_CONCEPT,
                    "valueBoolean": _boolean,
                    "valueInteger": _integer,
                    "valueCodeableConcept": _CODEABLE_CONCEPT,
                    "valuePeriod": _PERIOD,
                    "valueQuantity": _QUANTITY,
                    "valueRange": _RANGE,
                    "valueRatio": _RATIO,
                    "valueString": _string,
                    "valueAttachment": _anything,
                },
                required=("type",),
                one_of=(
                    "valueBoolean",
                    "valueInteger",
                    "valueCodeableConcept",
                    "valuePeriod",
                    "valueQuantity",
                    "valueRange",
                    "valueRatio",
                    "valueString",
                    "valueAttachment",
                ),
                one_of_required=True,
            )
        ),
    }
)

_DISPENSE = _object(
    {
        **_DOMAIN_RESOURCE,
        "identifier": _many(_IDENTIFIER),
        "basedOn": _many(_reference("ServiceRequest")),
        "partOf": _many(_reference("BiologicallyDerivedProductDispense")),
        "status": _code_in(DISPENSE_STATUS_CODES),
        "originRelationshipType": _CODEABLE_CONCEPT,
        "product": _reference("BiologicallyDerivedProduct"),
        "patient": _reference("Patient"),
        "matchStatus": _CODEABLE_CONCEPT,
        "performer": _many(
            _object(
                {"function": _CODEABLE_CONCEPT, "actor": _reference("Practitioner")},
                required=("actor",),
            )
        ),
        "location": _reference("Location"),
        "quantity": _SIMPLE_QUANTITY,
        "preparedDate": _date_time,
        "whenHandedOver": _date_time,
        "destination": _reference("Location"),
        "note": _many(_ANNOTATION),
        "usageInstruction": _string,
    },
    required=("status", "product", "patient"),
)

_RESOURCES: dict[str, _Check] = {
    "BiologicallyDerivedProduct": _PRODUCT,
    "BiologicallyDerivedProductDispense": _DISPENSE,
}
