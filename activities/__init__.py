"""Everything that touches the outside world: activities, adapters, the simulated world."""

from activities.adapters import (
    DEFAULT_SITES,
    AdapterUnavailable,
    BusinessRefusal,
    Site,
    SiteAdapter,
    SitesConfig,
)
from activities.catalog import KNOWN_ACTIVITIES, SITE_ACTIVITIES, SYSTEM_ACTIVITIES
from activities.runtime import Activities, AuditSink
from activities.sim_report import SimulatedReport
from activities.simulated import Fault, SimulatedWorld

__all__ = [
    "DEFAULT_SITES",
    "KNOWN_ACTIVITIES",
    "SITE_ACTIVITIES",
    "SYSTEM_ACTIVITIES",
    "Activities",
    "AdapterUnavailable",
    "AuditSink",
    "BusinessRefusal",
    "Fault",
    "SimulatedReport",
    "SimulatedWorld",
    "Site",
    "SiteAdapter",
    "SitesConfig",
]
