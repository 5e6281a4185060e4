"""Therapy product definitions, one module per product, written by process engineers."""

from definitions.allogeneic_edited import ALLOGENEIC_DONOR_LOT, ALLOGENEIC_PATIENT_ORDER
from definitions.autologous_car_t import AUTOLOGOUS_CD19_CAR_T
from definitions.hsc_gene_therapy import HSC_GENE_THERAPY
from definitions.in_vivo_lnp import IN_VIVO_LOT, IN_VIVO_PATIENT
from workflows.definition import CompiledDefinition

#: Every product this deployment runs, by product name.
CATALOG: dict[str, CompiledDefinition] = {
    d.product: d
    for d in (
        AUTOLOGOUS_CD19_CAR_T,
        ALLOGENEIC_DONOR_LOT,
        ALLOGENEIC_PATIENT_ORDER,
        IN_VIVO_LOT,
        IN_VIVO_PATIENT,
        HSC_GENE_THERAPY,
    )
}


def load_catalog(extra: str | None = None) -> dict[str, CompiledDefinition]:
    """The catalog plus definitions named in `extra` ("module:ATTR,module:ATTR").

    ATTR may be one compiled definition or a dict of them; this is how a deployment (or a
    test on a real server) adds products without editing this package (`VEIN2VEIN_DEFINITIONS`).
    """
    import importlib

    catalog = dict(CATALOG)
    for ref in filter(None, (extra or "").split(",")):
        module_name, _, attr = ref.strip().partition(":")
        value = getattr(importlib.import_module(module_name), attr)
        items = value.values() if isinstance(value, dict) else [value]
        catalog.update({d.product: d for d in items})
    return catalog


__all__ = [
    "ALLOGENEIC_DONOR_LOT",
    "ALLOGENEIC_PATIENT_ORDER",
    "AUTOLOGOUS_CD19_CAR_T",
    "CATALOG",
    "HSC_GENE_THERAPY",
    "IN_VIVO_LOT",
    "IN_VIVO_PATIENT",
    "load_catalog",
]
