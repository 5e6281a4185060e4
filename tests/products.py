"""Small products for focused tests of one language feature each."""

from __future__ import annotations

from collections.abc import Mapping

from activities import KNOWN_ACTIVITIES
from workflows import (
    Call,
    Role,
    Value,
    activity,
    branch,
    call,
    celsius,
    computation,
    compute,
    days,
    end,
    gate,
    handoff,
    hold,
    hours,
    leg,
    minutes,
    one_of,
    option,
    party,
    process,
    rework,
    series,
    slot_chain,
    stage,
    task,
    wait_for,
    within,
)
from workflows.definition import CompiledDefinition
from workflows.vocabulary import PartyKind, ProductCategory

_DOSE = {"dose_per_kg": "5e11", "per_vial": "1e13"}


def _quick(activity: str, **params: str) -> Call:
    return call(activity, at="manufacturing_site", timeout=minutes(1), attempts=3, **params)


FLAKY_BOOKING = process(
    "test-flaky-booking",
    version="1",
    title="A booking whose system errors, then a signed gate",
    specification={"total_viable_cells": within(min=1)},
    product_category=ProductCategory.CELLS,
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            task(
                "book_slot",
                call("book_slot", at="manufacturing_site", timeout=minutes(1), attempts=3),
                undo=call("release_slot", at="manufacturing_site", timeout=minutes(1), attempts=3),
            ),
            handoff(
                "receipt",
                from_party="courier",
                to_party="manufacturing",
                container="APH",
                temperature=celsius(2, 8),
                ask=call(
                    "book_courier", at="courier", timeout=minutes(1), attempts=3, condition="2-8C"
                ),
                deadline=days(3),
            ),
            hold("receipt_to_expanded", start="receipt", end="expansion", max=days(10)),
            wait_for(
                "expansion",
                "mes.operation_done",
                ask=call(
                    "start_operation",
                    at="manufacturing_site",
                    timeout=minutes(1),
                    attempts=3,
                    operation="expansion",
                ),
                deadline=days(12),
                records=("total_viable_cells",),
            ),
            gate("approve", roles=(Role.QA,), meaning="approval", requires=("expansion",)),
        )
    ],
)

RELEASE_JUDGED = process(
    "test-release-judged",
    version="1",
    title="A computed dose and an assay that the release gate's requires does not name",
    specification={
        "dose_vg": within(max=1.0e14, unit="vg"),
        "vials_needed": within(min=1, max=20, unit="vials"),
        "sterility": one_of("negative"),
    },
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            task(
                "dose",
                call("calculate_dose", timeout=minutes(1), attempts=2, **_DOSE),
                records=("dose_vg", "vials_needed"),
            ),
            wait_for(
                "sterility_test",
                "lims.result",
                ask=_quick("request_release_test", assay="sterility"),
                deadline=days(5),
                records=("sterility",),
            ),
            gate(
                "release",
                roles=(Role.QA,),
                meaning="I release this batch",
                requires=("dose",),
                release=True,
            ),
        )
    ],
)

#: Sites of the default network that play the parties of MANY_PARTIES.
MANY_PARTY_SITES = {
    "apheresis_unit": "APH-WEST",
    "central_lab": "LAB-CENTRAL",
    "plant": "MFG-EAST",
    "courier": "COURIER-CRYO",
}

MANY_PARTIES = process(
    "test-many-parties",
    version="1",
    title="Parties beyond the classic three, and a per-order option",
    parties=[
        party("apheresis_unit", PartyKind.APHERESIS_CENTRE),
        party("central_lab", PartyKind.LABORATORY),
        party("plant", PartyKind.MANUFACTURING_SITE),
        party("courier", PartyKind.COURIER),
    ],
    options=[option("apheresis_mode", "fresh", "cryopreserved", default="fresh")],
    specification={"cd3_cells": within(min=1e9, unit="cells"), "sterility": one_of("negative")},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            wait_for(
                "collection",
                "collection.completed",
                ask=call("schedule_apheresis", at="apheresis_unit", timeout=minutes(1), attempts=3),
                deadline=days(7),
                records=("cd3_cells",),
            ),
            branch(
                "apheresis_handling",
                on_option="apheresis_mode",
                cases={
                    "fresh": [],
                    "cryopreserved": [
                        wait_for(
                            "cryopreservation",
                            "mes.operation_done",
                            ask=call(
                                "start_operation",
                                at="plant",
                                timeout=minutes(1),
                                attempts=3,
                                operation="cryopreservation",
                            ),
                            deadline=days(3),
                        )
                    ],
                },
            ),
            task("book_slot", call("book_slot", at="plant", timeout=minutes(1), attempts=3)),
            wait_for(
                "sterility_test",
                "lims.result",
                ask=call(
                    "request_release_test",
                    at="central_lab",
                    timeout=minutes(1),
                    attempts=3,
                    assay="sterility",
                ),
                deadline=days(5),
                records=("sterility",),
            ),
            gate("release", roles=(Role.QA,), meaning="I release this batch", release=True),
        )
    ],
)

ENDS_EARLY = process(
    "test-ends-early",
    version="1",
    title="A booking, then a per-order choice that may end the process cleanly",
    options=[option("manufacture", "yes", "no")],
    specification={},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            task(
                "book_slot",
                _quick("book_slot"),
                undo=_quick("release_slot"),
            ),
            branch(
                "go_or_stop",
                on_option="manufacture",
                cases={"yes": [], "no": [end("declined", "not_manufacturable")]},
            ),
            gate("approve", roles=(Role.QA,), meaning="approval"),
        )
    ],
)

WINDOWED_INFUSION = process(
    "test-windowed-infusion",
    version="1",
    title="Conditioning at least 5 and at most 9 days before infusion",
    specification={},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            wait_for(
                "conditioning",
                "centre.conditioning_done",
                ask=call("schedule_visit", at="treatment_centre", timeout=minutes(1), attempts=3),
                deadline=days(3),
            ),
            hold(
                "conditioning_window",
                start="conditioning",
                end="infusion",
                min=days(5),
                max=days(9),
            ),
            wait_for(
                "infusion",
                "centre.infusion_recorded",
                ask=call(
                    "schedule_infusion", at="treatment_centre", timeout=minutes(1), attempts=3
                ),
                deadline=days(2),
                infusion=True,
            ),
            gate("approve", roles=(Role.QA,), meaning="approval"),
        )
    ],
)


@computation(
    "test.cd34_dose", inputs=("cd34_cells", "weight_kg"), outputs=("cd34_per_kg", "dose_band")
)
def cd34_dose(v: Mapping[str, Value]) -> dict[str, Value]:
    """CD34+ cells per kg of body weight, and whether that is enough to manufacture."""
    per_kg = float(v["cd34_cells"]) / float(v["weight_kg"])
    return {"cd34_per_kg": round(per_kg, 1), "dose_band": "adequate" if per_kg >= 2e6 else "low"}


COMPUTED_DOSE = process(
    "test-computed-dose",
    version="1",
    title="A product activity, a computed value judged, and a branch on what it derived",
    activities=[activity("count_cd34", "Count CD34+ cells in the product")],
    specification={
        "cd34_cells": within(min=1e6, unit="cells"),
        "cd34_per_kg": within(min=1e5, max=2e7, unit="cells/kg"),
        "dose_band": one_of("adequate", "low"),
    },
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            wait_for(
                "cd34_count",
                "lab.counted",
                ask=_quick("count_cd34"),
                deadline=days(2),
                records=("cd34_cells",),
            ),
            compute("cd34_dose", cd34_dose, records=("cd34_per_kg", "dose_band")),
            branch(
                "enough_cells",
                on_result="dose_band",
                cases={"adequate": [], "low": [end("too_few_cells", "not_manufacturable")]},
            ),
            gate("approve", roles=(Role.QA,), meaning="approval"),
        )
    ],
)

OBSERVED = process(
    "test-observed",
    version="1",
    title="Daily CRS grades observed for five days, and a dose series the physician may stop",
    specification={"crs_grade": within(max=2, unit="grade")},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            series(
                "crs_monitoring",
                "centre.crs_graded",
                count=5,
                every=days(1),
                window=hours(12),
                ask=call(
                    "schedule_visit",
                    at="treatment_centre",
                    timeout=minutes(1),
                    attempts=3,
                    operation="crs_grading",
                ),
                records=("crs_grade",),
            ),
            series(
                "il2_doses",
                "centre.dose_given",
                count=6,
                every=hours(8),
                window=hours(6),
                ask=call(
                    "schedule_infusion",
                    at="treatment_centre",
                    timeout=minutes(1),
                    attempts=3,
                    operation="il2_dose",
                ),
                may_stop=True,
            ),
            gate("approve", roles=(Role.QA,), meaning="approval"),
        )
    ],
)

TYPED_PARAMS = process(
    "test-typed-params",
    version="1",
    title="A weight-based dose whose parameters are numbers, not text",
    specification={"dose_vg": within(max=1e14, unit="vg"), "vials_needed": within(min=1)},
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            task(
                "dose",
                call(
                    "calculate_dose",
                    timeout=minutes(1),
                    attempts=2,
                    dose_per_kg=5e11,
                    per_vial=1e13,
                ),
                records=("dose_vg", "vials_needed"),
            ),
            gate("approve", roles=(Role.QA,), meaning="approval"),
        )
    ],
)


#: Collection three days before the manufacturing slot, infusion two days after it ends.
SLOT_CHAIN = slot_chain(
    leg("collection", at="treatment_centre", offset_days=-3),
    leg("infusion", at="treatment_centre", offset_days=16),
)

CHAINED_SLOTS = process(
    "test-chained-slots",
    version="1",
    title="Collection, manufacturing and infusion slots booked and moved as one chain",
    specification={},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "enrolment",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            task(
                "book_slot",
                _quick("book_slot", days="14", chain=SLOT_CHAIN),
                undo=_quick("release_slot"),
            ),
            wait_for(
                "apheresis",
                "collection.completed",
                ask=call(
                    "schedule_apheresis", at="treatment_centre", timeout=minutes(1), attempts=2
                ),
                on_reschedule=_quick("move_slot", days="14", chain=SLOT_CHAIN),
                deadline=days(30),
            ),
            gate("approve", roles=(Role.QA,), meaning="approval"),
        )
    ],
)


def _reported_by_hand(
    product: str, title: str, *, record_review: bool = False
) -> CompiledDefinition:
    """A receipt with temperature and a release assay, every report sent by the test."""
    return process(
        product,
        version="1",
        title=title,
        specification={"viability_pct": within(min=70, unit="%"), "sterility": one_of("negative")},
        known_activities=KNOWN_ACTIVITIES,
        stages=[
            stage(
                "only",
                task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
                handoff(
                    "receipt",
                    from_party="courier",
                    to_party="manufacturing",
                    container="APH",
                    temperature=celsius(2, 8),
                    deadline=days(3),
                ),
                wait_for(
                    "assay",
                    "lims.result",
                    deadline=days(5),
                    records=("viability_pct", "sterility"),
                ),
                gate(
                    "release",
                    roles=(Role.QA,),
                    meaning="I release this batch",
                    release=True,
                    record_review=record_review,
                ),
            )
        ],
    )


#: Every report comes from outside and nothing asks for one: what an integration sends is all
#: the batch sees (the examples of `vein2vein definitions example-event` are tested on it).
REPORTED_BY_HAND = _reported_by_hand(
    "test-reported-by-hand",
    "A receipt with temperature and a release assay, reported by integrations",
)
#: Released only over QA's standing review of the batch record (`gate(record_review=True)`);
#: every report comes from the test, which chooses when the record changes.
REVIEWED_RELEASE = _reported_by_hand(
    "test-reviewed-release",
    "A release that waits for QA's signed review of the batch record",
    record_review=True,
)
#: QA may send a formulation that failed back to expansion; a hold runs from expansion to
#: formulation; every report comes from the test.
REWORKED = process(
    "test-reworked",
    version="1",
    title="An expansion QA may order redone after a formulation out of specification",
    specification={"viability_pct": within(min=70, unit="%")},
    known_activities=KNOWN_ACTIVITIES,
    reworks=[
        rework("formulation", back_to="expansion", description="re-expand the retained fraction")
    ],
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            wait_for("expansion", "mes.operation_done", deadline=days(12)),
            hold("expansion_to_formulation", start="expansion", end="formulation", max=days(4)),
            wait_for("formulation", "lims.result", deadline=days(9), records=("viability_pct",)),
            gate("release", roles=(Role.QA,), meaning="I release this batch", release=True),
        )
    ],
)
#: A lot whose doses may be allocated for 30 days from its release, and the order drawing on it.
EXPIRING_STOCK = "test-expiring-stock"
EXPIRING_LOT = process(
    "test-expiring-lot",
    version="1",
    title="A released lot with a shelf life of 30 days",
    specification={},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
            task(
                "to_stock",
                call(
                    "release_to_inventory",
                    timeout=minutes(1),
                    attempts=3,
                    inventory=EXPIRING_STOCK,
                    doses=2,
                    shelf_life=days(30),
                ),
            ),
        )
    ],
)
#: A COI, then one dose of the expiring lot (given back if the batch is abandoned).
_DOSE_ALLOCATED = (
    task("allocate_coi", call("allocate_coi", timeout=minutes(1), attempts=2)),
    task(
        "allocate_dose",
        call("allocate_doses", timeout=minutes(1), attempts=3, inventory=EXPIRING_STOCK),
        undo=call("return_doses", timeout=minutes(1), attempts=3, inventory=EXPIRING_STOCK),
    ),
)
EXPIRING_ORDER = process(
    "test-expiring-order",
    version="1",
    title="A patient order allocating one dose of the expiring lot",
    specification={},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            *_DOSE_ALLOCATED,
        )
    ],
)
#: An order allocating a dose of the expiring lot and waiting for the centre to administer it.
EXPIRING_ADMINISTRATION = process(
    "test-expiring-administration",
    version="1",
    title="A dose of the expiring lot, allocated and then administered",
    specification={},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            *_DOSE_ALLOCATED,
            wait_for(
                "administration", "centre.infusion_recorded", deadline=days(60), infusion=True
            ),
        )
    ],
)

TEST_PRODUCTS = {
    d.product: d
    for d in (
        FLAKY_BOOKING,
        REPORTED_BY_HAND,
        REVIEWED_RELEASE,
        REWORKED,
        EXPIRING_LOT,
        EXPIRING_ORDER,
        EXPIRING_ADMINISTRATION,
        RELEASE_JUDGED,
        MANY_PARTIES,
        ENDS_EARLY,
        WINDOWED_INFUSION,
        COMPUTED_DOSE,
        OBSERVED,
        TYPED_PARAMS,
        CHAINED_SLOTS,
    )
}
