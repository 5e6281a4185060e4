"""Therapy product definitions, one module per product, written by process engineers."""

from definitions.autologous_car_t import AUTOLOGOUS_CD19_CAR_T
from workflows.definition import CompiledDefinition

#: Every product this deployment runs, by product name.
CATALOG: dict[str, CompiledDefinition] = {d.product: d for d in (AUTOLOGOUS_CD19_CAR_T,)}

__all__ = ["AUTOLOGOUS_CD19_CAR_T", "CATALOG"]
