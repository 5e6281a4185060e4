"""Allogeneic gene-edited anti-CD19 CAR T: one donor lot for many patients.

Two processes meet at the inventory. The donor lot is collected, edited (TRAC knock-out and
CAR knock-in), expanded and tested against extra quality gates (editing efficiency, off-target
edits, karyotype, residual TCR-positive cells) before QA releases its doses into inventory.
A patient order then allocates one dose, ships it frozen, and records the infusion;
abandoning the order returns the dose.
"""

from definitions._common import (
    assay,
    bedside_infusion,
    frozen_receipt_at_centre,
    operation,
    quick,
)
from workflows import (
    ProductCategory,
    Role,
    celsius,
    days,
    decide,
    gate,
    handoff,
    hours,
    one_of,
    parallel,
    process,
    stage,
    task,
    wait_for,
    within,
)

INVENTORY = "allo-cd19"
DOSES_PER_LOT = "20"

#: Cryopreserved doses may be allocated for a year from the lot's release.
SHELF_LIFE = "P365D"

ALLOGENEIC_DONOR_LOT = process(
    "allogeneic-cd19-donor-lot",
    version="1.1.0",
    title="Allogeneic gene-edited anti-CD19 CAR T, donor lot",
    product_category=ProductCategory.CELLS,
    specification={
        "cd3_cells": within(min=1.0e9, unit="cells"),
        "total_viable_cells": within(min=1.0e9, unit="cells"),
        "viability_pct": within(min=80, unit="%"),
        "editing_efficiency_pct": within(min=85, unit="%"),
        "off_target_sites": within(max=0, unit="sites"),
        "karyotype": one_of("normal"),
        "residual_tcr_pct": within(max=0.5, unit="%"),
        "sterility": one_of("negative"),
    },
    stages=[
        stage(
            "donor",
            task("allocate_coi", quick("allocate_coi")),
            task(
                "book_slot",
                quick("book_slot", at="manufacturing_site", days="21"),
                undo=quick("release_slot", at="manufacturing_site", days="21"),
            ),
            wait_for(
                "donor_apheresis",
                "collection.completed",
                ask=quick("schedule_apheresis", at="treatment_centre"),
                deadline=days(10),
                records=("cd3_cells",),
            ),
            handoff(
                "receipt_at_site",
                from_party="courier",
                to_party="manufacturing",
                container="DON",
                temperature=celsius(2, 8, tolerate_minutes=30),
                ask=quick("book_courier", at="courier", condition="2-8C"),
                deadline=hours(72),
            ),
        ),
        stage(
            "manufacturing",
            task(
                "allocate_lots",
                quick("allocate_lots", at="manufacturing_site", materials="cas9,media"),
                undo=quick("return_lots", at="manufacturing_site"),
            ),
            operation("gene_editing", "editing", deadline_h=48, consumes="cas9"),
            operation(
                "expansion", "expansion", deadline_h=12 * 24, records=("total_viable_cells",)
            ),
            operation("tcr_depletion_fill", "formulation", deadline_h=24),
            operation("cryopreservation", "cryopreservation", deadline_h=48),
        ),
        stage(
            "release",
            parallel(
                "quality_gates",
                assay("viability", "viability_pct"),
                assay("editing", "editing_efficiency_pct"),
                assay("off_target", "off_target_sites"),
                assay("karyotyping", "karyotype"),
                assay("residual_tcr", "residual_tcr_pct"),
                assay("sterility_rapid", "sterility"),
            ),
            decide(
                "lot_specification",
                (
                    "total_viable_cells",
                    "viability_pct",
                    "editing_efficiency_pct",
                    "off_target_sites",
                    "karyotype",
                    "residual_tcr_pct",
                    "sterility",
                ),
            ),
            gate(
                "qa_lot_release",
                roles=(Role.QA, Role.QUALIFIED_PERSON),
                meaning="I certify this donor lot for release",
                requires=("lot_specification", "cryopreservation"),
                release=True,
            ),
            task(
                "doses_to_inventory",
                quick(
                    "release_to_inventory",
                    inventory=INVENTORY,
                    doses=DOSES_PER_LOT,
                    shelf_life=SHELF_LIFE,
                ),
            ),
        ),
    ],
)

ALLOGENEIC_PATIENT_ORDER = process(
    "allogeneic-cd19-patient-order",
    version="1.1.0",
    title="Allogeneic gene-edited anti-CD19 CAR T, patient order",
    product_category=ProductCategory.CELLS,
    specification={},
    stages=[
        stage(
            "allocation",
            task("allocate_coi", quick("allocate_coi")),
            task(
                "allocate_dose",
                quick("allocate_doses", inventory=INVENTORY, count="1"),
                undo=quick("return_doses", inventory=INVENTORY),
            ),
        ),
        stage("delivery", frozen_receipt_at_centre(), *bedside_infusion()),
    ],
)
