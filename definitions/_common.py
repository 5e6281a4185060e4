"""Building blocks several products share: policies and the usual outside-world requests."""

from __future__ import annotations

from workflows import call, days, hours, minutes, wait_for
from workflows.language import Call, SiteRole, WaitFor


def quick(activity: str, at: SiteRole = "system", **params: str) -> Call:
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
