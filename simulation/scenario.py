"""A scenario: the network, its demand and what goes wrong, as a typed TOML file.

name = "Two plants, four centres"
seed = 7
horizon_days = 365           # patients arrive during this time ...
drain_days = 120             # ... and the simulation runs this much longer

[products.autologous-cd19-car-t]
window_days = 42             # treatment window, from enrolment

[lots.allogeneic-cd19-donor-lot]
site = "MFG-EAST"            # a lot product started on a schedule
every_days = 14

[sites.MFG-EAST]             # `activities.adapters.Site`, plus what the simulator needs
kind = "manufacturing_site"
lanes = 4
qa_reviewers = 2

[sites.TC-NORTH]
kind = "treatment_centre"
manufacturing_site = "MFG-EAST"
patients_per_year = 60       # Poisson arrivals
products = { autologous-cd19-car-t = 1.0 }

[qa]                         # working hours and review time of every QA pool
start_h = 8
end_h = 17
review = { mean_h = 2, dist = "lognormal", spread = 0.5 }

[durations]                  # by MES operation or activity; default activities.sim_tables
expansion = { mean_h = 192, dist = "triangular", spread = 0.15 }

[[faults]]                   # the durable engine's fault kinds, with a probability
kind = "temperature_excursion"
step = "receipt_at_site"
probability = 0.03

[dispositions.policy]        # QA's choice by deviation kind or kind@step
temperature_excursion = { continue = 0.9, abandon = 0.1 }
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from activities.adapters import Site
from activities.sim_tables import Fault
from simulation.faults import Distribution
from workflows.model import DecisionAction
from workflows.vocabulary import PartyKind


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScenarioSite(Site):
    """A site of the network (`activities.adapters.Site`) and what the simulator needs of it:
    a manufacturing site's QA reviewers; a treatment centre's demand and plant."""

    qa_reviewers: int = Field(default=2, ge=1, le=1000)
    patients_per_year: float = Field(default=0, ge=0)
    products: dict[str, float] = Field(
        default_factory=dict, description="Share of the centre's patients by product"
    )
    manufacturing_site: str | None = None


class ProductDemand(_Strict):
    """How a patient product is ordered."""

    window_days: float = Field(default=42, gt=0, description="Treatment window from enrolment")
    weight_kg: float = Field(default=70, gt=0, lt=400, description="Mean body weight")
    weight_sd_kg: float = Field(default=12, ge=0)
    options: dict[str, str] = Field(default_factory=dict)


class LotSchedule(_Strict):
    """A lot product started at a manufacturing site every `every_days`."""

    site: str
    every_days: float = Field(gt=0)
    centre: str | None = Field(default=None, description="Where donors are collected")


class QaStaffing(_Strict):
    """Working hours and review time of QA (every site's pool)."""

    start_h: float = Field(default=8, ge=0, lt=24)
    end_h: float = Field(default=17, gt=0, le=24)
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    review: Distribution = Distribution(mean_h=2, dist="lognormal", spread=0.5)
    reject_probability: float = Field(default=0, ge=0, le=1)

    @model_validator(mode="after")
    def _hours(self) -> QaStaffing:
        if self.start_h >= self.end_h or not self.weekdays:
            raise ValueError("QA works no hours: start_h must be before end_h, weekdays given")
        if any(d not in range(7) for d in self.weekdays):
            raise ValueError("weekdays are 0 (Monday) to 6")
        return self


class DispositionPolicy(_Strict):
    """QA's dispositions, drawn by deviation kind or `kind@step`; what a key does not name is
    continued where allowed, otherwise abandoned."""

    policy: dict[str, dict[DecisionAction, float]] = Field(default_factory=dict)
    max_retries: int = Field(default=3, ge=0, le=100)
    retry_after_h: dict[str, float] = Field(default_factory=dict)


class Scenario(_Strict):
    """Everything one simulation run needs."""

    name: str = "scenario"
    seed: int = 7
    horizon_days: float = Field(default=365, gt=0, le=3650)
    drain_days: float = Field(default=120, ge=0, le=3650)
    products: dict[str, ProductDemand] = Field(default_factory=dict)
    lots: dict[str, LotSchedule] = Field(default_factory=dict)
    sites: dict[str, ScenarioSite]
    qa: QaStaffing = QaStaffing()
    durations: dict[str, Distribution] = Field(default_factory=dict)
    faults: list[Fault] = Field(default_factory=list)
    dispositions: DispositionPolicy = DispositionPolicy()

    @model_validator(mode="before")
    @classmethod
    def _site_ids(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("sites"), dict):
            sites = data["sites"]
            data = {
                **data,
                "sites": {
                    k: {"site_id": k, **v} if isinstance(v, dict) else v for k, v in sites.items()
                },
            }
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems = []
        for site in self.sites.values():
            if site.kind != PartyKind.TREATMENT_CENTRE:
                continue
            plant = self.sites.get(site.manufacturing_site or "")
            if site.patients_per_year and (plant is None or plant.kind != "manufacturing_site"):
                problems.append(f"sites.{site.site_id}: manufacturing_site names no plant")
            for product in site.products:
                if product not in self.products:
                    problems.append(f"sites.{site.site_id}: product {product} not in [products]")
        for product, lot in self.lots.items():
            if lot.site not in self.sites:
                problems.append(f"lots.{product}: site {lot.site} is not a site")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def of_kind(self, kind: PartyKind) -> list[ScenarioSite]:
        """The sites of `kind`, in file order."""
        return [s for s in self.sites.values() if s.kind == kind]

    def with_seed(self, seed: int | None) -> Scenario:
        """The same scenario with another seed (None: unchanged)."""
        return self if seed is None else self.model_copy(update={"seed": seed})


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; `ValueError` (pydantic's) names what is wrong."""
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not TOML: {err}") from err
    return Scenario.model_validate(raw)
