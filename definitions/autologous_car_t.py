"""Autologous CD19 CAR T: from the patient's vein back to the patient's vein.

One patient's T cells are collected, shipped fresh at 2-8 C, selected, transduced with a
lentiviral CD19 CAR vector, expanded (extended once if the dose is short), formulated,
cryopreserved, release tested, released by QA under e-signature, shipped frozen below -150 C,
thawed at the bedside after a two-person identity check and infused within 30 minutes.
Abandonment undoes, in reverse: the courier, the lots, the collection and the slot.
"""

from definitions._common import assay as _assay
from definitions._common import bedside_infusion, frozen_receipt_at_centre, quick
from definitions._common import operation as _operation
from workflows import (
    ProductCategory,
    Role,
    celsius,
    days,
    decide,
    gate,
    handoff,
    hold,
    hours,
    one_of,
    parallel,
    process,
    repeat,
    stage,
    task,
    wait_for,
    within,
)

#: Collection 3 days after booking; 14 days of manufacturing; 7 for release and shipping.
SLOT = {"lead_days": "3", "days": "14", "return_days": "7"}

AUTOLOGOUS_CD19_CAR_T = process(
    "autologous-cd19-car-t",
    version="1.1.0",
    title="Autologous anti-CD19 CAR T cells (lentiviral)",
    product_category=ProductCategory.CELLS,
    specification={
        "cd3_cells": within(min=1.0e9, unit="cells"),  # minimum collection for manufacture
        "total_viable_cells": within(min=1.0e9, max=5.0e9, unit="cells"),  # target dose
        "viability_pct": within(min=80, unit="%"),
        "transduction_efficiency_pct": within(min=15, unit="%"),
        "vector_copy_number": within(max=5, unit="copies/cell"),
        "cd19_car_identity": one_of("positive"),
        "sterility": one_of("negative"),
        "endotoxin_eu_ml": within(max=0.5, unit="EU/mL"),
        "mycoplasma": one_of("negative"),
    },
    stages=[
        stage(
            "enrolment",
            task(
                "allocate_coi",
                quick("allocate_coi"),
                undo=quick("notify", at="treatment_centre", message="batch abandoned"),
            ),
            task(
                "book_slot",
                quick("book_slot", at="manufacturing_site", **SLOT),
                undo=quick("release_slot", at="manufacturing_site"),
            ),
        ),
        stage(
            "collection",
            repeat(
                "collection",
                wait_for(
                    "apheresis",
                    "collection.completed",
                    ask=quick("schedule_apheresis", at="treatment_centre"),
                    undo=quick("cancel_apheresis", at="treatment_centre"),
                    on_reschedule=quick("move_slot", at="manufacturing_site", **SLOT),
                    deadline=days(10),
                    records=("cd3_cells",),
                ),
                until="cd3_cells",
                max_times=2,
                on_exhausted="abandon",
                description="Re-collect once if too few T cells were collected.",
            ),
            hold(
                "fresh_apheresis_hold",
                start="apheresis",
                end="receipt_at_site",
                max=hours(48),
                description="Fresh apheresis at 2-8 C must reach manufacturing within 48 h.",
            ),
            handoff(
                "receipt_at_site",
                from_party="courier",
                to_party="manufacturing",
                container="APH",
                temperature=celsius(2, 8, tolerate_minutes=30),
                ask=quick("book_courier", at="courier", condition="2-8C"),
                undo=quick("cancel_courier", at="courier"),
                deadline=hours(72),
            ),
        ),
        stage(
            "manufacturing",
            task(
                "allocate_lots",
                quick("allocate_lots", at="manufacturing_site", materials="vector,media,beads"),
                undo=quick("return_lots", at="manufacturing_site"),
            ),
            _operation("selection_activation", "selection", deadline_h=48, consumes="beads,media"),
            _operation("transduction", "transduction", deadline_h=48, consumes="vector"),
            repeat(
                "expansion_cycle",
                _operation(
                    "expansion", "expansion", deadline_h=12 * 24, records=("total_viable_cells",)
                ),
                until="total_viable_cells",
                max_times=2,
                description="Extend expansion once if the dose is not reached.",
            ),
            _operation("harvest_formulation", "formulation", deadline_h=24),
            _operation("cryopreservation", "cryopreservation", deadline_h=48),
        ),
        stage(
            "release",
            parallel(
                "release_testing",
                _assay("viability", "viability_pct"),
                _assay("identity_potency", "cd19_car_identity", "transduction_efficiency_pct"),
                _assay("safety", "vector_copy_number", "endotoxin_eu_ml", "mycoplasma"),
                _assay("sterility_rapid", "sterility"),
            ),
            decide(
                "release_specification",
                (
                    "total_viable_cells",
                    "viability_pct",
                    "transduction_efficiency_pct",
                    "vector_copy_number",
                    "cd19_car_identity",
                    "sterility",
                    "endotoxin_eu_ml",
                    "mycoplasma",
                ),
                exceptional_release=True,
                description="OOS may be released only on a physician's request.",
            ),
            gate(
                "qa_disposition",
                roles=(Role.QA, Role.QUALIFIED_PERSON),
                meaning="I certify this batch for release",
                requires=(
                    "release_specification",
                    "cryopreservation",
                    "harvest_formulation",
                    "viability_pct",
                    "sterility",
                ),
                release=True,
            ),
        ),
        stage(
            "delivery",
            frozen_receipt_at_centre(),
            wait_for(
                "availability_confirmed",
                "centre.availability_confirmed",
                ask=quick("confirm_availability", at="treatment_centre"),
                deadline=days(2),
                description="Confirm the product is on site before lymphodepletion.",
            ),
            *bedside_infusion(),
            task("tell_centre", quick("notify", at="treatment_centre", message="infused")),
        ),
    ],
)
