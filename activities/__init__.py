"""Everything that touches the outside world: activities, adapters, the simulated world.

The names below load on first use (PEP 562): the simulated report workflow lives in this
package, and the workflow sandbox imports the package afresh for every such workflow run, so
importing it must not pull in the ledger and SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from activities.sim_tables import Fault, simulate_result
    from activities.simulated import SimulatedWorld

_HOME = {
    "DEFAULT_SITES": "adapters",
    "AdapterUnavailable": "adapters",
    "BusinessRefusal": "adapters",
    "Site": "adapters",
    "SiteAdapter": "adapters",
    "SitesConfig": "adapters",
    "KNOWN_ACTIVITIES": "catalog",
    "SITE_ACTIVITIES": "catalog",
    "SYSTEM_ACTIVITIES": "catalog",
    "Activities": "runtime",
    "AuditSink": "runtime",
    "SimulatedReport": "sim_report",
    "Fault": "sim_tables",
    "SimulatedWorld": "simulated",
    "simulate_result": "sim_tables",
}

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
    "simulate_result",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'activities' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"activities.{home}"), name)
    globals()[name] = value
    return value
