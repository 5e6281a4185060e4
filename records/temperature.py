"""A custody leg's temperature evidence: the logger's full reading series and its summary.

High-frequency readings never enter workflow history (Temporal's limits, and the history is not
a record store). The full series is kept in the records database (`records.temperature_store`),
content-addressed by its canonical SHA-256; the workflow receives only the `TemperatureSummary`
computed here, which names the series by that hash. Anyone holding the series can recompute
both the hash (`series_sha256`) and the summary (`summarise`) and compare.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from workflows.definition import CompiledDefinition
from workflows.judgement import judge_temperature
from workflows.language import Handoff, TemperatureRange
from workflows.model import BATCH_ID_PATTERN, BatchRecord, CustodyEntry, TemperatureSummary

#: At most this many readings per series: 35 days at one a minute. A logger sending more is
#: misconfigured, and one request must stay small enough to validate at once.
MAX_READINGS = 50_000
#: Readings colder than absolute zero or hotter than this are sensor faults, not temperatures.
_PLAUSIBLE_C = (-273.15, 150.0)
#: Minutes are compared to a micro-minute: a float computed twice must not differ.
_TOLERANCE = 1e-6

#: One reading: when it was taken and what it read, in degrees Celsius.
Reading = tuple[AwareDatetime, float]


class SeriesReadings(BaseModel):
    """A logger's readings as a courier sends them (the batch and step come with the report)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    logger_id: str = Field(min_length=1, max_length=80, pattern=r"^[!-~]+$")
    interval_seconds: float = Field(gt=0, le=86_400, description="Time one reading stands for")
    readings: tuple[Reading, ...] = Field(
        min_length=1, max_length=MAX_READINGS, description="(at, celsius), strictly in time order"
    )

    @field_validator("readings")
    @classmethod
    def _ordered_and_plausible(cls, readings: tuple[Reading, ...]) -> tuple[Reading, ...]:
        low, high = _PLAUSIBLE_C
        for index, (at, celsius) in enumerate(readings):
            # allow_inf_nan covers fields, not always values nested in tuples: check again.
            if not math.isfinite(celsius) or not low <= celsius <= high:
                raise ValueError(f"reading {index} ({celsius!r} °C) is not a plausible temperature")
            if index and at <= readings[index - 1][0]:
                raise ValueError(
                    f"reading {index} at {at.isoformat()} is not after the reading before it:"
                    " readings must be strictly in time order"
                )
        return readings


class TemperatureSeries(SeriesReadings):
    """The full reading series of one custody leg: whose batch, which handoff step, which logger."""

    batch_id: str = Field(pattern=BATCH_ID_PATTERN)
    step: str = Field(min_length=1, max_length=80)

    def canonical_json(self) -> str:
        """The exact text the SHA-256 covers: sorted keys, no spaces, times in UTC.

        Readings are `[ISO 8601 UTC time, celsius]` pairs; numbers are Python's shortest
        round-trip float form, so every reader that parses and re-serialises gets the same text.
        """
        document = {
            "batch_id": self.batch_id,
            "step": self.step,
            "logger_id": self.logger_id,
            "interval_seconds": float(self.interval_seconds),
            "readings": [[_utc(at), float(c)] for at, c in self.readings],
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    def sha256(self) -> str:
        """The series' content hash (hex), which its summary and the store name it by."""
        return hashlib.sha256(self.canonical_json().encode("ascii")).hexdigest()


def summarise(series: TemperatureSeries, limit: TemperatureRange | None) -> TemperatureSummary:
    """The summary the workflow judges: extremes, count, interval, minutes outside `limit`.

    Each reading stands for `interval_seconds`, so the minutes outside are the readings outside
    the range times the interval (the evidence rule `TemperatureSummary.evidence_problems`
    checks against). Without a declared range nothing can be outside it.
    """
    values = [c for _, c in series.readings]
    outside = 0
    if limit is not None:
        outside = sum(1 for c in values if c < limit.min_c or c > limit.max_c)
    return TemperatureSummary(
        min_c=min(values),
        max_c=max(values),
        minutes_outside_range=outside * series.interval_seconds / 60,
        logger_id=series.logger_id,
        readings=len(values),
        interval_seconds=series.interval_seconds,
        series_sha256=series.sha256(),
    )


def disagreements(computed: TemperatureSummary, sent: TemperatureSummary) -> list[str]:
    """How a summary the sender computed differs from the one its readings give (empty: none).

    Fields the sender left out are not compared; every field it did send must match.
    """
    problems = []
    for name in ("min_c", "max_c", "minutes_outside_range", "interval_seconds"):
        mine, theirs = getattr(computed, name), getattr(sent, name)
        if theirs is not None and (mine is None or abs(mine - theirs) > _TOLERANCE):
            problems.append(f"{name} {theirs:g} but the readings give {mine:g}")
    for name in ("logger_id", "readings", "series_sha256"):
        mine, theirs = getattr(computed, name), getattr(sent, name)
        if theirs is not None and mine != theirs:
            problems.append(f"{name} {theirs} but the readings give {mine}")
    return problems


def handoff_ranges(defn: CompiledDefinition) -> dict[str, TemperatureRange]:
    """Each handoff step of `defn` that declares a temperature range, by step name."""
    return {
        step.name: step.temperature
        for _, step in defn.steps()
        if isinstance(step, Handoff) and step.temperature is not None
    }


class LegTemperature(BaseModel):
    """What a reviewer reads about one custody leg's temperature, with the verdict."""

    model_config = ConfigDict(frozen=True)

    step: str
    from_party: str
    to_party: str
    at: datetime
    range: TemperatureRange | None = Field(description="None: the range is not known here")
    summary: TemperatureSummary | None
    series: TemperatureSeries | None = Field(default=None, description="When stored")
    problems: tuple[LegProblem, ...] = Field(description="Missing evidence or excursion")

    @property
    def evidence_missing(self) -> bool:
        """True when the leg has no summary or an incomplete one."""
        return self.summary is None or bool(self.summary.evidence_problems())


class LegProblem(BaseModel):
    """One thing wrong with a leg's temperature: missing evidence, or an excursion."""

    model_config = ConfigDict(frozen=True)

    evidence: bool = Field(description="True: evidence missing or incomplete; False: excursion")
    text: str


def leg_problems(entry: CustodyEntry, limit: TemperatureRange | None) -> list[LegProblem]:
    """What is wrong with a leg's temperature evidence, judged as the engine judges it.

    With complete evidence and a known range, the engine's own rule decides
    (`workflows.judgement`). Incomplete evidence is reported together with any departure from
    the range (or, the range unknown, any time outside it): a reviewer would rather look once
    too often than miss an excursion behind a missing logger id.
    """
    t = entry.temperature
    if t is None:
        return [LegProblem(evidence=True, text="no temperature evidence")]
    missing = t.evidence_problems()
    if not missing and limit is not None:
        finding = judge_temperature(limit, t)
        return [] if finding is None else [LegProblem(evidence=False, text=finding.description)]
    problems = [
        LegProblem(evidence=True, text=f"temperature evidence incomplete: {p}") for p in missing
    ]
    seen = f"{t.min_c:g}..{t.max_c:g} °C, {t.minutes_outside_range:g} min outside range"
    if limit is not None and (t.min_c < limit.min_c or t.max_c > limit.max_c):
        rng = f"{limit.min_c:g}..{limit.max_c:g} °C"
        problems.append(LegProblem(evidence=False, text=f"{seen}, beyond {rng}"))
    elif limit is None and t.minutes_outside_range > 0:
        problems.append(LegProblem(evidence=False, text=seen))
    return problems


def temperature_legs(
    record: BatchRecord,
    ranges: Mapping[str, TemperatureRange] | None = None,
    series_of: Callable[[str], TemperatureSeries | None] | None = None,
) -> list[LegTemperature]:
    """Every custody leg of `record` with its range, summary, verdict and (if given) series.

    `ranges` are the pinned definition's handoff ranges (`handoff_ranges`); when None, ranges
    are unknown. A leg whose handoff declares no range, in a definition that is known, needs no
    temperature evidence and has no problems. `series_of` reads a stored series by hash.
    """
    legs = []
    for entry in record.custody:
        limit = ranges.get(entry.step) if ranges is not None else None
        declared = ranges is None or limit is not None
        series = None
        t = entry.temperature
        if series_of is not None and t is not None and t.series_sha256:
            series = series_of(t.series_sha256)
        legs.append(
            LegTemperature(
                step=entry.step,
                from_party=entry.from_party,
                to_party=entry.to_party,
                at=entry.at,
                range=limit,
                summary=t,
                series=series,
                problems=tuple(leg_problems(entry, limit)) if declared else (),
            )
        )
    return legs


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


__all__ = [
    "MAX_READINGS",
    "LegProblem",
    "LegTemperature",
    "Reading",
    "SeriesReadings",
    "TemperatureSeries",
    "disagreements",
    "handoff_ranges",
    "leg_problems",
    "summarise",
    "temperature_legs",
]
