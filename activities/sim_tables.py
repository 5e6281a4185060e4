"""What the simulated outside world reports and how long it takes: nominal and failing
values by result, durations by activity or operation, default material lots; and the faults
it can be told to inject (shared by the durable engine's simulated adapter and the
discrete-event simulator, so both executors read the same fault list)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal[
    "failed_collection",
    "courier_delay",
    "temperature_excursion",
    "no_temperature_summary",
    "never_in_range",
    "oos",
    "label_mismatch",
    "flaky",
    "no_capacity",
    "silent",
]


class Fault(BaseModel):
    """One fault to inject. Narrow it by batch, step, activity or result; it fires at most
    `times` per batch, each time with `probability` (the simulator samples it; the simulated
    adapter of the durable engine takes 1.0)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FaultKind
    batch_id: str | None = None
    step: str | None = None
    activity: str | None = None
    result: str | None = Field(default=None, description="For 'oos': which result fails")
    times: int = Field(default=1, ge=1, description="At most this many firings per batch")
    delay: timedelta = timedelta(hours=36)
    probability: float = Field(default=1.0, ge=0, le=1)


#: Nominal values the simulated labs report, and what an out-of-specification one looks like.
NOMINAL: dict[str, tuple[float | str, float | str, str]] = {
    "cd3_cells": (2.4e9, 0.3e9, "cells"),
    "viability_pct": (91.0, 52.0, "%"),
    "total_viable_cells": (2.1e9, 0.2e9, "cells"),
    "transduction_efficiency_pct": (38.0, 6.0, "%"),
    "vector_copy_number": (2.1, 7.5, "copies/cell"),
    "cd19_car_identity": ("positive", "negative", ""),
    "sterility": ("negative", "positive", ""),
    "endotoxin_eu_ml": (0.12, 2.4, "EU/mL"),
    "mycoplasma": ("negative", "positive", ""),
    "rcl": ("negative", "positive", ""),
    "editing_efficiency_pct": (93.0, 61.0, "%"),
    "off_target_sites": (0.0, 3.0, "sites"),
    "karyotype": ("normal", "abnormal", ""),
    "residual_tcr_pct": (0.2, 2.1, "%"),
    "eligible": ("yes", "no", ""),
    "dose_vg": (6.0e13, 0.0, "vg"),
}

#: How long each kind of outside work takes in simulated hours, by activity or operation.
DURATIONS_H: dict[str, float] = {
    "schedule_apheresis": 72,
    "book_courier": 20,
    "selection": 24,
    "transduction": 24,
    "editing": 24,
    "expansion": 192,
    "harvest": 6,
    "formulation": 6,
    "cryopreservation": 24,
    "request_release_test": 48,
    "request_bedside_check": 48,
    "schedule_infusion": 0.3,
    "confirm_availability": 2,
    "assess_eligibility": 48,
    "prepare_in_pharmacy": 0.5,
    "schedule_visit": 24,
    "administration": 0.2,
    "observation": 24,
    "default": 4,
}

DEFAULT_LOTS = {
    "vector": "LV-CD19-2611-014",
    "media": "MED-XV-2609-221",
    "beads": "BEAD-CD3-2610-031",
    "cas9": "CAS9-RNP-2608-007",
    "lnp": "LNP-2611-003",
}


def simulate_result(
    result: str, *, nominal: float | str, failing: float | str, unit: str = ""
) -> None:
    """What every simulated world reports for `result` unless told otherwise: a product
    module calls this for the results it introduces, so its batches run in the demo."""
    NOMINAL[result] = (nominal, failing, unit)
