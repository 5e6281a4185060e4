"""Building blocks several products share: policies and the usual outside-world requests."""

from __future__ import annotations

from workflows import call, celsius, days, handoff, hold, hours, minutes, wait_for
from workflows.language import Call, Handoff, Hold, WaitFor


def quick(activity: str, at: str = "system", **params: str) -> Call:
    """A booking or message to another system: 2 minutes per attempt, 5 attempts."""
    return call(activity, at=at, timeout=minutes(2), attempts=5, **params)


def operation(
    name: str,
    op: str,
    *,
    deadline_h: float,
    records: tuple[str, ...] = (),
    consumes: str = "",
) -> WaitFor:
    """One MES operation: ask the manufacturing site to run it, wait for its completion."""
    ask = call(
        "start_operation",
        at="manufacturing_site",
        timeout=minutes(10),
        attempts=3,
        operation=op,
        consumes=consumes,
    )
    return wait_for(
        name, "mes.operation_done", ask=ask, deadline=hours(deadline_h), records=records
    )


def assay(name: str, *records: str) -> WaitFor:
    """One release assay run by the LIMS; results judged later against the specification."""
    ask = call(
        "request_release_test", at="manufacturing_site", timeout=minutes(10), attempts=3, assay=name
    )
    return wait_for(name, "lims.result", ask=ask, deadline=days(5), records=records)


def frozen_receipt_at_centre() -> Handoff:
    """The frozen infusion bag shipped below -150 C and received at the treatment centre."""
    return handoff(
        "receipt_at_centre",
        from_party="courier",
        to_party="treatment_centre",
        container="INF",
        temperature=celsius(-196, -150, tolerate_minutes=5),
        ask=quick("book_courier", at="courier", condition="frozen"),
        undo=quick("cancel_courier", at="courier"),
        deadline=days(4),
    )


def bedside_infusion() -> tuple[Handoff, Hold, WaitFor]:
    """Two-person bedside identity check, thaw, and infusion within 30 minutes."""
    return (
        handoff(
            "bedside_identity_check",
            from_party="pharmacy",
            to_party="bedside",
            container="INF",
            ask=quick("request_bedside_check", at="treatment_centre"),
            deadline=days(21),
            description="Two people check COI against the bag.",
        ),
        hold(
            "thaw_to_infusion",
            start="bedside_identity_check",
            end="infusion",
            max=minutes(30),
            description="Thawed bag infused promptly.",
        ),
        wait_for(
            "infusion",
            "centre.infusion_recorded",
            ask=quick("schedule_infusion", at="treatment_centre"),
            deadline=days(3),
            infusion=True,
        ),
    )
