"""In vivo CAR T engineering with a targeted LNP: released vial lots, dosed by body weight.

The lot process makes, tests and releases LNP vials into inventory. The patient process checks
eligibility (a patient found not eligible ends the process cleanly, nothing allocated),
computes the dose from the order's body weight in the workflow (a product function: 5e11 vg/kg,
capped at the 1e14 vg maximum, judged against the specification so a dose under the 1e13 vg
minimum stops before anything is allocated), allocates the vials, ships them cold, has
the pharmacy dilute them (administration within 4 hours of dilution), records the
administration and observation, then follows the patient for 15 years.
"""

import math
from collections.abc import Mapping
from datetime import timedelta

from definitions._common import assay, operation, quick
from workflows import (
    ProductCategory,
    Role,
    Value,
    branch,
    celsius,
    computation,
    compute,
    days,
    decide,
    end,
    follow_up,
    gate,
    handoff,
    hold,
    hours,
    one_of,
    parallel,
    process,
    stage,
    task,
    wait_for,
    within,
)

INVENTORY = "invivo-cd19-lnp"
#: Months 3, 6 and 12, then yearly to year 15 (regulators expect 15 years for integrating
#: or genome-editing products).
#: Vector genomes per kg of body weight, the most one patient may receive, the least that
#: treats, and what one vial holds.
DOSE_PER_KG_VG = 5e11
MAX_DOSE_VG = 1e14
MIN_DOSE_VG = 1e13
PER_VIAL_VG = 1e13


@computation(
    "in_vivo.weight_based_dose",
    inputs=("weight_kg",),
    outputs=("dose_vg", "vials_needed"),
)
def weight_based_dose(v: Mapping[str, Value]) -> dict[str, Value]:
    """5e11 vg per kg, capped at the maximum (a 260 kg patient gets 1e14 vg, not 1.3e14), and
    the vials it takes; a dose under the minimum is left as computed for the judgement."""
    dose = min(DOSE_PER_KG_VG * float(v["weight_kg"]), MAX_DOSE_VG)
    return {"dose_vg": round(dose, 1), "vials_needed": float(math.ceil(dose / PER_VIAL_VG))}


VISITS = (days(91), days(182), *(timedelta(days=365 * y) for y in range(1, 16)))

#: Frozen LNP vials may be allocated for six months from the lot's release.
SHELF_LIFE = "P180D"

IN_VIVO_LOT = process(
    "in-vivo-cd19-lnp-lot",
    version="1.1.0",
    title="Targeted LNP (anti-CD19 CAR mRNA), vial lot",
    product_category=ProductCategory.BIOLOGICAL_AGENT,
    specification={
        "cd19_car_identity": one_of("positive"),
        "sterility": one_of("negative"),
        "endotoxin_eu_ml": within(max=0.5, unit="EU/mL"),
    },
    stages=[
        stage(
            "manufacturing",
            task("allocate_coi", quick("allocate_coi")),
            task(
                "allocate_lots",
                quick("allocate_lots", at="manufacturing_site", materials="lnp,media"),
                undo=quick("return_lots", at="manufacturing_site"),
            ),
            operation("formulation_fill", "formulation", deadline_h=48, consumes="lnp"),
        ),
        stage(
            "release",
            parallel(
                "release_testing",
                assay("identity", "cd19_car_identity"),
                assay("safety", "sterility", "endotoxin_eu_ml"),
            ),
            decide("lot_specification", ("cd19_car_identity", "sterility", "endotoxin_eu_ml")),
            gate(
                "qa_lot_release",
                roles=(Role.QA, Role.QUALIFIED_PERSON),
                meaning="I certify this vial lot for release",
                requires=("lot_specification",),
                release=True,
            ),
            task(
                "vials_to_inventory",
                quick(
                    "release_to_inventory",
                    inventory=INVENTORY,
                    doses="200",
                    shelf_life=SHELF_LIFE,
                ),
            ),
        ),
    ],
)

IN_VIVO_PATIENT = process(
    "in-vivo-cd19-lnp",
    version="1.4.0",
    title="Targeted LNP (anti-CD19 CAR mRNA), patient treatment and follow-up",
    product_category=ProductCategory.BIOLOGICAL_AGENT,
    specification={
        "eligible": one_of("yes", "no"),
        "dose_vg": within(min=MIN_DOSE_VG, max=MAX_DOSE_VG, unit="vg"),
        "vials_needed": within(min=1, max=20, unit="vials"),
    },
    stages=[
        stage(
            "eligibility",
            task("allocate_coi", quick("allocate_coi")),
            wait_for(
                "eligibility_assessment",
                "centre.eligibility_assessed",
                ask=quick("assess_eligibility", at="treatment_centre"),
                deadline=days(7),
                records=("eligible",),
            ),
            branch(
                "eligibility",
                on_result="eligible",
                cases={
                    "yes": [],
                    "no": [
                        end(
                            "not_eligible",
                            "not_eligible",
                            description="The patient is not treated; nothing was allocated.",
                        )
                    ],
                },
            ),
        ),
        stage(
            "dosing",
            compute(
                "dose_calculation",
                weight_based_dose,
                records=("dose_vg", "vials_needed"),
                description="5e11 vg/kg capped at 1e14 vg; under 1e13 vg it stops the batch",
            ),
            task(
                "allocate_vials",
                quick("allocate_doses", inventory=INVENTORY, count_from="vials_needed"),
                undo=quick("return_doses", inventory=INVENTORY),
            ),
            handoff(
                "receipt_at_pharmacy",
                from_party="courier",
                to_party="pharmacy",
                container="VIALS",
                temperature=celsius(2, 8, tolerate_minutes=15),
                ask=quick("book_courier", at="courier", condition="2-8C"),
                undo=quick("cancel_courier", at="courier"),
                deadline=days(3),
            ),
            wait_for(
                "pharmacy_preparation",
                "pharmacy.prepared",
                ask=quick("prepare_in_pharmacy", at="treatment_centre"),
                deadline=days(2),
            ),
            hold(
                "dilution_to_administration",
                start="pharmacy_preparation",
                end="administration",
                max=hours(4),
            ),
            wait_for(
                "administration",
                "centre.infusion_recorded",
                ask=quick("schedule_infusion", at="treatment_centre", operation="administration"),
                deadline=hours(3),
                infusion=True,
            ),
            wait_for(
                "observation",
                "centre.observation_done",
                ask=quick("schedule_visit", at="treatment_centre", operation="observation"),
                deadline=days(3),
            ),
        ),
        stage(
            "follow_up",
            follow_up(
                "long_term_follow_up",
                "centre.visit_completed",
                ask=quick("schedule_visit", at="treatment_centre"),
                visits=VISITS,
                window=days(30),
            ),
        ),
    ],
)
