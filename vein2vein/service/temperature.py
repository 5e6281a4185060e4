"""Temperature series that arrive with custody reports: checked, stored, summarised.

The readings stay here: the service stores the series in the records database and hands the
workflow only the summary it computed, against the range of the handoff step in the batch's
pinned definition (never the catalog's current one, which may have changed since). A summary
the sender also computed must agree with the readings, or the report is refused.
"""

from __future__ import annotations

import asyncio

from fastapi import HTTPException

from records.temperature import (
    LegTemperature,
    SeriesReadings,
    TemperatureSeries,
    disagreements,
    handoff_ranges,
    summarise,
    temperature_legs,
)
from vein2vein.service.batches import definition_of, fetch_record
from vein2vein.service.context import ServiceContext
from workflows.definition import CompiledDefinition
from workflows.language import Handoff, TemperatureRange
from workflows.model import BatchRecord, CustodyReport


async def handoff_range(ctx: ServiceContext, batch_id: str, step: str) -> TemperatureRange | None:
    """The temperature range the batch's pinned definition declares for handoff `step`.

    422 when the step is not a handoff of that definition, or the definition is not known.
    """
    rec = await fetch_record(ctx, batch_id)
    defn = await definition_of(ctx, rec)
    if defn is None or defn.content_hash != rec.definition_hash:
        raise HTTPException(
            422,
            f"the definition batch {batch_id} is pinned to is not available here, so its"
            " temperature range cannot be checked; send the report without a series",
        )
    try:
        found = defn.step(step)
    except KeyError:
        found = None
    if not isinstance(found, Handoff):
        raise HTTPException(422, f"step '{step}' of batch {batch_id} is not a handoff")
    return found.temperature


async def attach_series(
    ctx: ServiceContext,
    batch_id: str,
    step: str,
    custody: CustodyReport | None,
    readings: SeriesReadings,
) -> CustodyReport:
    """`custody` with the summary computed from `readings`; the series is stored first.

    Refused (422, nothing stored) when there is no custody report, when the step is not a
    handoff, or when a summary sent with the report disagrees with the readings.
    """
    if custody is None:
        raise HTTPException(422, "a temperature series belongs to a custody report: none sent")
    series = TemperatureSeries(batch_id=batch_id, step=step, **readings.model_dump())
    summary = summarise(series, await handoff_range(ctx, batch_id, step))
    if custody.temperature is not None:
        problems = disagreements(summary, custody.temperature)
        if problems:
            raise HTTPException(
                422,
                "the temperature summary sent disagrees with its readings: " + "; ".join(problems),
            )
    # Stored before the workflow hears of it, so the hash it records always names a series.
    await asyncio.to_thread(ctx.temperature.put, series)
    return custody.model_copy(update={"temperature": summary})


async def legs_for(
    ctx: ServiceContext, rec: BatchRecord, defn: CompiledDefinition | None = None
) -> list[LegTemperature]:
    """The batch's custody legs judged against its pinned definition, with stored series.

    `defn` is the definition already looked up by the caller, else it is looked up here; one
    that is not the batch's pinned definition is not used (ranges then show as unknown).
    """
    if defn is None:
        defn = await definition_of(ctx, rec)
    pinned = defn is not None and defn.content_hash == rec.definition_hash
    ranges = handoff_ranges(defn) if defn is not None and pinned else None
    return await asyncio.to_thread(temperature_legs, rec, ranges, ctx.temperature.get)
