"""Short products for the real-server tests: wall-clock deadlines and holds of seconds.

On the real server a workflow's time is the wall clock, so these products keep every deadline
short; the simulated world's report delays are compressed by `VEIN2VEIN_SIM_SPEED`. The worker
process loads them with `VEIN2VEIN_DEFINITIONS=tests.realserver.products:PRODUCTS`.
"""

from __future__ import annotations

from datetime import timedelta

from activities import KNOWN_ACTIVITIES
from workflows import (
    Role,
    call,
    celsius,
    gate,
    handoff,
    hold,
    minutes,
    process,
    stage,
    task,
    wait_for,
    within,
)
from workflows.language import Call

#: Per-attempt timeout of every call: short, so a call lost with a killed worker is retried
#: soon.
CALL_TIMEOUT = timedelta(seconds=6)
# The test reports `dispatch` itself and kills the server once the batch waits for the arrival
# (one workflow task later), so on a loaded machine both still run when the server dies.
HOLD = timedelta(seconds=30)
DEADLINE = timedelta(seconds=35)


def _call(activity: str, at: str = "manufacturing_site", **params: str) -> Call:
    return call(activity, at=at, timeout=CALL_TIMEOUT, attempts=5, **params)


#: Book, collect, ship, expand, approve: every wait answered by the simulated world.
RELAY = process(
    "rs-relay",
    version="1",
    title="Real-server relay: reports from the simulated world, then a signed gate",
    specification={"total_viable_cells": within(min=1.0e9, unit="cells")},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "enrolment",
            task("allocate_coi", _call("allocate_coi", at="system")),
            task("book_slot", _call("book_slot"), undo=_call("release_slot")),
        ),
        stage(
            "manufacturing",
            wait_for(
                "selection",
                "mes.operation_done",
                ask=_call("start_operation", operation="selection"),
                deadline=minutes(10),
            ),
            handoff(
                "receipt",
                from_party="courier",
                to_party="manufacturing",
                container="APH",
                temperature=celsius(2, 8),
                ask=_call("book_courier", at="courier", condition="2-8C"),
                undo=_call("cancel_courier", at="courier"),
                deadline=minutes(10),
            ),
            wait_for(
                "expansion",
                "mes.operation_done",
                ask=_call("start_operation", operation="harvest"),
                deadline=minutes(10),
                records=("total_viable_cells",),
            ),
            gate("approve", roles=(Role.QA,), meaning="approval", requires=("expansion",)),
        ),
    ],
)

#: A hold and a deadline that the test lets expire: nobody but the test reports `dispatch` or
#: `arrival`, so the hold starts when the test chooses, not when the simulated world answers.
TIMERS = process(
    "rs-timers",
    version="1",
    title="Real-server timers: a hold and a deadline that breach while nobody reports",
    specification={},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            task("allocate_coi", _call("allocate_coi", at="system")),
            wait_for("dispatch", "mes.operation_done", deadline=minutes(10)),
            hold("dispatch_to_arrival", start="dispatch", end="arrival", max=HOLD),
            wait_for("arrival", "site.arrived", deadline=DEADLINE),
            gate("approve", roles=(Role.QA,), meaning="approval", requires=("arrival",)),
        )
    ],
)

#: A booking allowed half an hour: lost with its worker, it must be tried again once its
#: heartbeats stop (`workflows.policy.CALL_HEARTBEAT_TIMEOUT`), not after the half hour.
PATIENT_CALL = process(
    "rs-patient-call",
    version="1",
    title="Real-server patient call: one booking with a long timeout",
    specification={},
    known_activities=KNOWN_ACTIVITIES,
    stages=[
        stage(
            "only",
            task("allocate_coi", _call("allocate_coi", at="system")),
            task(
                "book_slot",
                call("book_slot", at="manufacturing_site", timeout=minutes(30), attempts=3),
            ),
        )
    ],
)

PRODUCTS = {d.product: d for d in (RELAY, TIMERS, PATIENT_CALL)}
