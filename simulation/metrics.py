"""The figures a simulation run answers with: patients infused, vein-to-vein time, the share
infused inside the treatment window, slot and QA load, deviations and abandonments."""

from __future__ import annotations

import math
from collections import Counter

from pydantic import BaseModel, ConfigDict

from simulation.capacity import DAY_H
from simulation.network import Journey
from simulation.simulate import SimulationResult
from workflows.vocabulary import PartyKind


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class SiteLoad(_Frozen):
    """One manufacturing site over the horizon."""

    site: str
    lanes: int
    utilisation: float
    batches: int
    slot_wait_mean_days: float
    slot_wait_p90_days: float
    backlog_mean: float
    backlog_max: int
    qa_reviewers: int
    qa_decisions: int
    qa_wait_mean_h: float
    qa_wait_p90_h: float
    qa_queue_mean: float
    qa_queue_max: int


class Summary(_Frozen):
    """What one run of a scenario comes to."""

    scenario: str
    seed: int
    horizon_days: float
    patients: int
    infused: int
    within_window: float
    v2v_p50_days: float | None
    v2v_p90_days: float | None
    v2v_p99_days: float | None
    abandoned: int
    ended: int
    still_running: int
    lots: int
    sites: list[SiteLoad]
    deviations: dict[str, int]
    abandoned_why: dict[str, int]
    wall_s: float


def percentile(values: list[float], q: float) -> float | None:
    """The `q` quantile (0..1) by linear interpolation, None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _mean(values: list[float] | list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def why(j: Journey) -> str:
    """Why a batch was abandoned, in words that group: the deviation disposed of as
    abandon (its kind and step), or the engine's own reason."""
    reason = j.reason or "unknown"
    if reason.startswith("DEV-"):
        n = int(reason.split()[0].removeprefix("DEV-"))
        if 0 < n <= len(j.deviations):
            kind, step = j.deviations[n - 1]
            return f"{kind} at {step}"
    return reason.split(" (", 1)[0]


def patients_of(result: SimulationResult) -> list[Journey]:
    """The patients' journeys (lots have no treatment window)."""
    return [j for j in result.journeys if j.window_end_h is not None]


def summarise(result: SimulationResult) -> Summary:
    """The summary of `result`."""
    s = result.scenario
    horizon_day = int(s.horizon_days)
    patients = patients_of(result)
    infused = [j for j in patients if j.infused_h is not None]
    v2v = [(j.infused_h - j.arrived_h) / DAY_H for j in infused if j.infused_h is not None]
    within = [
        j for j in infused if j.infused_h is not None and j.infused_h <= (j.window_end_h or 0)
    ]
    sites = []
    for plant in s.of_kind(PartyKind.MANUFACTURING_SITE):
        mine = [j for j in result.journeys if j.site == plant.site_id]
        waits = [j.slot_wait_h / DAY_H for j in mine]
        backlog = result.samples.slot_backlog.get(plant.site_id, [])
        pool = result.pools.get(plant.site_id)
        queue = result.samples.qa_queue.get(plant.site_id, [])
        sites.append(
            SiteLoad(
                site=plant.site_id,
                lanes=plant.lanes,
                utilisation=result.calendar.booked_days(plant.site_id, 0, horizon_day)
                / (plant.lanes * horizon_day),
                batches=len(mine),
                slot_wait_mean_days=_mean(waits),
                slot_wait_p90_days=percentile(waits, 0.9) or 0.0,
                backlog_mean=_mean(backlog),
                backlog_max=max(backlog, default=0),
                qa_reviewers=plant.qa_reviewers,
                qa_decisions=len(pool.waits) if pool else 0,
                qa_wait_mean_h=_mean(pool.waits) if pool else 0.0,
                qa_wait_p90_h=(percentile(pool.waits, 0.9) or 0.0) if pool else 0.0,
                qa_queue_mean=_mean(queue),
                qa_queue_max=max(queue, default=0),
            )
        )
    deviations = Counter(k for j in result.journeys for k, _ in j.deviations)
    abandoned = [j for j in result.journeys if j.status == "abandoned"]
    return Summary(
        scenario=s.name,
        seed=s.seed,
        horizon_days=s.horizon_days,
        patients=len(patients),
        infused=len(infused),
        within_window=len(within) / len(patients) if patients else 0.0,
        v2v_p50_days=percentile(v2v, 0.5),
        v2v_p90_days=percentile(v2v, 0.9),
        v2v_p99_days=percentile(v2v, 0.99),
        abandoned=len(abandoned),
        ended=sum(1 for j in result.journeys if j.status == "ended"),
        still_running=sum(1 for j in result.journeys if j.ended_h is None),
        lots=len(result.journeys) - len(patients),
        sites=sites,
        deviations=dict(deviations.most_common()),
        abandoned_why=dict(Counter(why(j) for j in abandoned).most_common()),
        wall_s=result.wall_s,
    )
