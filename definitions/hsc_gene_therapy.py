"""Ex vivo gene-modified haematopoietic stem cell therapy (autologous, lentiviral).

Written with public names only (`workflows`, and `activities.simulate_result` for the demo's
simulated values). The patient is mobilised; an apheresis centre collects up to three times,
each collection counted by the central laboratory and shipped cold to the plant, until the
pooled CD34+ cells per kg of body weight reach the target (a product function computes the
running total); the plant transduces and cryopreserves; the central laboratory runs release
testing; QA releases. The patient receives myeloablative conditioning, and the infusion may
not start until 2 days (busulfan washout) and must happen within 7 days after it. Neutrophil
engraftment is observed weekly for six weeks, then long-term follow-up.
"""

from collections.abc import Mapping

from activities import simulate_result
from workflows import (
    PartyKind,
    ProductCategory,
    Role,
    Value,
    activity,
    call,
    celsius,
    computation,
    compute,
    days,
    decide,
    follow_up,
    gate,
    handoff,
    hold,
    hours,
    minutes,
    one_of,
    parallel,
    party,
    process,
    repeat,
    series,
    stage,
    task,
    wait_for,
    within,
)

#: Pooled CD34+ cells per kg needed to manufacture (a common target for HSC gene therapy).
TARGET_CD34_PER_KG = 4e6


def _call(name: str, at: str = "system", **params: str):  # type: ignore[no-untyped-def]
    return call(name, at=at, timeout=minutes(2), attempts=5, **params)


@computation(
    "hsc.pool_cd34",
    inputs=("cd34_cells", "cd34_pooled_cells", "weight_kg"),
    outputs=("cd34_pooled_cells", "cd34_pooled_per_kg"),
    defaults={"cd34_pooled_cells": 0.0},
)
def pool_cd34(v: Mapping[str, Value]) -> dict[str, Value]:
    """Add this collection's CD34+ cells to the pool; the pool per kg of body weight."""
    pooled = float(v["cd34_pooled_cells"]) + float(v["cd34_cells"])
    return {
        "cd34_pooled_cells": pooled,
        "cd34_pooled_per_kg": round(pooled / float(v["weight_kg"])),
    }


def _assay(name: str, *records: str):  # type: ignore[no-untyped-def]
    return wait_for(
        name,
        "lims.result",
        ask=_call("request_release_test", at="central_lab", assay=name),
        deadline=days(5),
        records=records,
    )


def _operation(name: str, deadline: float):  # type: ignore[no-untyped-def]
    return wait_for(
        name,
        "mes.operation_done",
        ask=_call("start_operation", at="plant", operation=name),
        deadline=hours(deadline),
    )


HSC_GENE_THERAPY = process(
    "ex-vivo-hsc-gene-therapy",
    version="1.1.0",
    title="Autologous HSC gene therapy (lentiviral), pooled collections",
    product_category=ProductCategory.CELLS,
    parties=[
        party("treatment_centre", PartyKind.TREATMENT_CENTRE),
        party("apheresis_unit", PartyKind.APHERESIS_CENTRE),
        party("central_lab", PartyKind.LABORATORY),
        party("plant", PartyKind.MANUFACTURING_SITE),
        party("courier", PartyKind.COURIER),
    ],
    activities=[activity("count_cd34", "Ask the laboratory to count a collection's CD34+ cells")],
    specification={
        "cd34_cells": within(min=0, unit="cells"),
        "cd34_pooled_cells": within(min=0, unit="cells"),
        "cd34_pooled_per_kg": within(min=TARGET_CD34_PER_KG, unit="cells/kg"),
        "vector_copy_number": within(min=0.5, max=5, unit="copies/cell"),
        "sterility": one_of("negative"),
        "endotoxin_eu_ml": within(max=0.5, unit="EU/mL"),
        "anc_count": within(min=0.5, unit="x10^9/L"),
    },
    stages=[
        stage(
            "mobilisation_and_collection",
            task("allocate_coi", _call("allocate_coi")),
            wait_for(
                "mobilisation",
                "centre.mobilisation_done",
                ask=_call("schedule_visit", at="treatment_centre", operation="mobilisation"),
                deadline=days(7),
            ),
            repeat(
                "collections",
                wait_for(
                    "apheresis",
                    "collection.completed",
                    ask=_call("schedule_apheresis", at="apheresis_unit"),
                    undo=_call("cancel_apheresis", at="apheresis_unit"),
                    deadline=days(5),
                ),
                handoff(
                    "collection_receipt",
                    from_party="courier",
                    to_party="plant",
                    container="APH",
                    temperature=celsius(2, 8, tolerate_minutes=15),
                    ask=_call("book_courier", at="courier", condition="2-8C"),
                    undo=_call("cancel_courier", at="courier"),
                    deadline=days(2),
                ),
                wait_for(
                    "cd34_count",
                    "lims.result",
                    ask=_call("count_cd34", at="central_lab"),
                    deadline=days(2),
                    records=("cd34_cells",),
                ),
                compute(
                    "cd34_pool",
                    pool_cd34,
                    records=("cd34_pooled_cells", "cd34_pooled_per_kg"),
                ),
                until="cd34_pooled_per_kg",
                max_times=3,
                on_exhausted="abandon",
                description="Collect again until the pool reaches the CD34+ target.",
            ),
        ),
        stage(
            "manufacturing",
            task(
                "book_slot", _call("book_slot", at="plant"), undo=_call("release_slot", at="plant")
            ),
            _operation("transduction", 72),
            _operation("cryopreservation", 48),
        ),
        stage(
            "release",
            parallel(
                "release_testing",
                _assay("vcn", "vector_copy_number"),
                _assay("safety", "sterility", "endotoxin_eu_ml"),
            ),
            decide(
                "release_specification",
                ("cd34_pooled_per_kg", "vector_copy_number", "sterility", "endotoxin_eu_ml"),
            ),
            gate(
                "qa_release",
                roles=(Role.QA, Role.QUALIFIED_PERSON),
                meaning="I certify this drug product for release",
                requires=("release_specification",),
                release=True,
            ),
        ),
        stage(
            "treatment",
            wait_for(
                "conditioning",
                "centre.conditioning_done",
                ask=_call("schedule_visit", at="treatment_centre", operation="conditioning"),
                deadline=days(6),
                description="Myeloablative busulfan conditioning.",
            ),
            hold(
                "washout_to_infusion",
                start="conditioning",
                end="infusion",
                min=days(2),
                max=days(7),
                description="Busulfan washout before infusion; infuse within the window.",
            ),
            handoff(
                "receipt_at_centre",
                from_party="courier",
                to_party="treatment_centre",
                container="INF",
                temperature=celsius(-196, -150, tolerate_minutes=5),
                ask=_call("book_courier", at="courier", condition="frozen"),
                undo=_call("cancel_courier", at="courier"),
                deadline=days(3),
            ),
            wait_for(
                "infusion",
                "centre.infusion_recorded",
                ask=_call("schedule_infusion", at="treatment_centre"),
                deadline=days(3),
                infusion=True,
            ),
            series(
                "engraftment",
                "centre.anc_counted",
                count=6,
                every=days(7),
                window=days(2),
                ask=_call("schedule_visit", at="treatment_centre", operation="anc_count"),
                records=("anc_count",),
                description="Weekly neutrophil counts; a low count is assessed, counting goes on.",
            ),
        ),
        stage(
            "follow_up",
            follow_up(
                "long_term_follow_up",
                "centre.visit_completed",
                ask=_call("schedule_visit", at="treatment_centre"),
                visits=(days(91), days(182), days(365), days(730)),
                window=days(30),
            ),
        ),
    ],
)

# What the simulated world reports for this product's own results (demo and tests): two
# collections of a 70 kg patient reach the target; a failing one brings too few cells.
simulate_result("cd34_cells", nominal=1.6e8, failing=2.0e7, unit="cells")
simulate_result("anc_count", nominal=1.8, failing=0.2, unit="x10^9/L")
