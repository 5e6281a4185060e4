"""Judging evidence against the approved process: results against the specification, custody
temperatures against the handoff's range, and whether a batch may be released.

Pure functions of typed values (no I/O, no clock): the workflow calls them while it runs and in
its update validators, and readers may call them to explain a verdict. Each returns what is
wrong in words a QA reviewer signs against, or nothing when all is well.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from workflows.language import Limit, TemperatureRange
from workflows.model import (
    BatchRecord,
    DecisionAction,
    DeviationKind,
    RecordedResult,
    TemperatureSummary,
)


class Finding(BaseModel):
    """One departure from the approved process that must become a deviation."""

    model_config = ConfigDict(frozen=True)

    kind: DeviationKind
    description: str


def describe_result(result: RecordedResult) -> str:
    """`name=value unit (limit ...)`, as a reviewer reads an out-of-specification result."""
    value = f"{result.value:.6g}" if isinstance(result.value, float) else result.value
    unit = f" {result.unit}" if result.unit else ""
    return f"{result.name}={value}{unit} (limit {result.limit})"


def out_of_specification(
    record: BatchRecord, names: list[str] | tuple[str, ...]
) -> list[RecordedResult]:
    """The results among `names` recorded on `record` that fail their specification line."""
    return [
        r for n in names if (r := record.results.get(n)) is not None and r.in_specification is False
    ]


def exceptionally_released(record: BatchRecord, name: str) -> bool:
    """True when a signed exceptional-release disposition covers the current value of `name`.

    The disposition must name the result and postdate its recording: a result recorded again
    after the disposition is a new value that nobody has accepted yet.
    """
    result = record.results.get(name)
    if result is None:
        return False
    return any(
        d.disposition == DecisionAction.EXCEPTIONAL_RELEASE
        and name in d.results
        and d.opened_at >= result.at
        for d in record.deviations
    )


def release_refusal(record: BatchRecord, specification: Mapping[str, Limit]) -> str | None:
    """Why the batch may not be released now, naming the results; None when it may.

    Every line of the specification is judged, whatever the release gate's `requires` names:
    each result must be recorded and within its limit, or covered by a signed exceptional
    release.
    """
    missing = [name for name in specification if name not in record.results]
    if missing:
        return f"cannot release: no result yet for {', '.join(missing)}"
    failing = [
        describe_result(r)
        for r in out_of_specification(record, list(specification))
        if not exceptionally_released(record, r.name)
    ]
    if failing:
        return (
            "cannot release: out of specification without a signed exceptional release: "
            + "; ".join(failing)
        )
    return None


def judge_temperature(
    limit: TemperatureRange, summary: TemperatureSummary | None
) -> Finding | None:
    """The deviation a custody leg's temperature evidence calls for, if any.

    No summary, or one lacking what makes it evidence, is a deviation of its own. A summary
    outside the range is an excursion unless it was a short one within the tolerance: the
    tolerance never covers a leg that was never in range, nor a summary that claims to have
    left the range for no time at all.
    """
    rng = f"{limit.min_c:g}..{limit.max_c:g} C"
    if summary is None:
        return Finding(
            kind=DeviationKind.TEMPERATURE_EVIDENCE_MISSING,
            description=f"no temperature summary for a leg that must stay within {rng}",
        )
    problems = summary.evidence_problems()
    if problems:
        return Finding(
            kind=DeviationKind.TEMPERATURE_EVIDENCE_MISSING,
            description=f"temperature evidence incomplete: {'; '.join(problems)}",
        )
    t = summary
    seen = f"temperature {t.min_c:g}..{t.max_c:g} C for {t.minutes_outside_range:g} min"
    if t.min_c > limit.max_c or t.max_c < limit.min_c:
        return Finding(
            kind=DeviationKind.TEMPERATURE_EXCURSION,
            description=f"{seen}: never within {rng}",
        )
    outside = t.min_c < limit.min_c or t.max_c > limit.max_c
    if outside and t.minutes_outside_range == 0:
        return Finding(
            kind=DeviationKind.TEMPERATURE_EXCURSION,
            description=f"{seen}: left {rng} yet reports no time outside it",
        )
    if outside and t.minutes_outside_range > limit.max_minutes_outside:
        return Finding(
            kind=DeviationKind.TEMPERATURE_EXCURSION,
            description=f"{seen} outside {rng}",
        )
    return None


def legacy_excursion(limit: TemperatureRange, summary: TemperatureSummary | None) -> Finding | None:
    """The excursion rule before issue 9 (minutes outside only), kept to replay old batches."""
    if summary is None:
        return None
    t = summary
    outside = t.min_c < limit.min_c or t.max_c > limit.max_c
    if not (outside and t.minutes_outside_range > limit.max_minutes_outside):
        return None
    return Finding(
        kind=DeviationKind.TEMPERATURE_EXCURSION,
        description=f"temperature {t.min_c:g}..{t.max_c:g} C for {t.minutes_outside_range:g} "
        f"min outside {limit.min_c:g}..{limit.max_c:g} C",
    )
