"""How activities reach the outside world: the adapter interface and the sites configuration.

An order names its treatment centre, manufacturing site and courier; the sites configuration
says which adapter serves each of them. A real deployment plugs in adapters for its hospitals,
couriers, MES and LIMS; the simulated adapter (`activities.simulated`) stands in for all of them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workflows.definition import CompiledDefinition
from workflows.model import Order, StepCall, StepOutput
from workflows.vocabulary import BusinessError, PartyKind


class BusinessRefusal(Exception):
    """The outside world said no for a business reason (no capacity, failed collection).

    Never retried: it becomes a deviation.
    """

    def __init__(self, error_type: BusinessError, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class AdapterUnavailable(Exception):
    """The outside world could not be reached; retried under the step's policy."""


class SiteAdapter(Protocol):
    """One outside system's side of every activity addressed to its site."""

    async def perform(self, call: StepCall) -> StepOutput:
        """Carry out `call` exactly once per `call.idempotency_key`."""
        ...


class Site(BaseModel):
    """One site of the network."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: str
    kind: PartyKind
    name: str = ""
    adapter: str = "simulated"
    #: Manufacturing lanes that run one batch at a time (what a slot books).
    lanes: int = Field(default=4, ge=1, le=1000)
    #: IANA time zone the site's times print in (the engine itself works in UTC).
    time_zone: str = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {value!r}") from e
        return value


class SitesConfig(BaseModel):
    """Every site of the network, by id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sites: dict[str, Site] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> SitesConfig:
        """Read a TOML file of `[sites.<id>]` tables with `kind`, `name` and `adapter`."""
        raw = tomllib.loads(path.read_text())
        sites = {
            site_id: Site(site_id=site_id, **body) for site_id, body in raw.get("sites", {}).items()
        }
        return cls(sites=sites)

    def order_problems(self, definition: CompiledDefinition, order: Order) -> list[str]:
        """What is wrong with `order` for `definition` on this network: the product's own
        rules (every party has a site, options offered), then each site exists and is of
        its party's kind. Empty when the order is fine."""
        problems = definition.order_problems(order.sites, order.options)
        kinds = definition.party_kinds()
        for party, site_id in order.sites.items():
            site = self.sites.get(site_id)
            if site is None:
                problems.append(f"{party} '{site_id}' is not a configured site")
            elif party in kinds and site.kind != kinds[party]:
                problems.append(f"{party} '{site_id}' is a {site.kind}, not a {kinds[party]}")
        return problems


DEFAULT_SITES = SitesConfig(
    sites={
        s.site_id: s
        for s in (
            Site(
                site_id="TC-NORTH",
                kind="treatment_centre",
                name="North Cancer Centre",
                time_zone="Europe/London",
            ),
            Site(
                site_id="TC-SOUTH",
                kind="treatment_centre",
                name="South University Hospital",
                time_zone="Europe/Madrid",
            ),
            Site(
                site_id="MFG-EAST",
                kind="manufacturing_site",
                name="East Cell Therapy Plant",
                time_zone="Europe/Berlin",
            ),
            Site(site_id="COURIER-CRYO", kind="courier", name="CryoCourier"),
            Site(site_id="APH-WEST", kind="apheresis_centre", name="West Apheresis Unit"),
            Site(site_id="LAB-CENTRAL", kind="laboratory", name="Central Laboratory"),
            Site(site_id="DEPOT-CRYO", kind="depot", name="Cryo Depot"),
            Site(site_id="PHARM-NORTH", kind="pharmacy", name="North Hospital Pharmacy"),
        )
    }
)
