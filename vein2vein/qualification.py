"""Installation qualification (IQ): is this installation what was validated, and is it set up
to keep its promises? `vein2vein validate` runs the checks below and writes a report.

Each check says what it looked at and what it found: the Python and package versions against
the distribution's own requirements, the ledger's append-only triggers, the data directory's
and key files' permissions, Temporal's reachability and the batch search attributes in the
namespace, the definition lock, and (where approval is required) each product's approval.
"""

from __future__ import annotations

import asyncio
import platform
import socket
import sys
from datetime import UTC, datetime, timedelta
from importlib import metadata

from pydantic import BaseModel, ConfigDict

from vein2vein.settings import Settings

__all__ = ["Check", "QualificationReport", "qualify"]

#: Packages whose installed versions must meet the distribution's requirements.
CHECKED_PACKAGES = ("temporalio", "pydantic", "sqlalchemy", "cryptography", "fastapi")
TEMPORAL_TIMEOUT = 10.0


class Check(BaseModel):
    """One qualification check and its outcome."""

    model_config = ConfigDict(frozen=True)

    name: str
    ok: bool
    detail: str


class QualificationReport(BaseModel):
    """What `vein2vein validate` found on this installation."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    host: str
    version: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return all(c.ok for c in self.checks)


async def qualify(settings: Settings) -> QualificationReport:
    """Run every check against `settings`' installation (read only: nothing is changed)."""
    checks = [_python(), *_packages(), _ledger(settings), _files(settings)]
    checks += await _temporal(settings)
    checks += _definitions(settings)
    try:
        version = metadata.version("vein2vein")
    except metadata.PackageNotFoundError:
        version = "not installed"
    return QualificationReport(
        at=datetime.now(UTC), host=socket.gethostname(), version=version, checks=checks
    )


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check(name="python", ok=ok, detail=f"Python {platform.python_version()} (3.11+)")


def _packages() -> list[Check]:
    from packaging.requirements import Requirement

    try:
        wanted = {
            Requirement(r).name.lower(): Requirement(r)
            for r in metadata.requires("vein2vein") or []
            if "extra ==" not in r
        }
    except metadata.PackageNotFoundError:
        wanted = {}
    out = []
    for name in CHECKED_PACKAGES:
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            out.append(Check(name=f"package {name}", ok=False, detail="not installed"))
            continue
        req = wanted.get(name)
        ok = req is None or req.specifier.contains(installed, prereleases=True)
        spec = str(req.specifier) if req is not None else "any"
        out.append(Check(name=f"package {name}", ok=ok, detail=f"{installed} (wanted {spec})"))
    return out


def _ledger(settings: Settings) -> Check:
    from records import Ledger

    try:
        with Ledger.from_url(settings.ledger) as ledger:
            missing = ledger.missing_guards()
    except Exception as e:  # an unreachable database is a finding, not a crash
        return Check(name="ledger triggers", ok=False, detail=f"cannot read the ledger: {e}")
    if missing:
        return Check(name="ledger triggers", ok=False, detail=f"missing: {', '.join(missing)}")
    return Check(name="ledger triggers", ok=True, detail="every append-only trigger in place")


def _files(settings: Settings) -> Check:
    from vein2vein.private import exposed

    key = settings.signing_key_file
    if not key.exists():
        return Check(name="key files", ok=False, detail=f"no signing key at {key}")
    paths = [settings.data_dir, key, settings.trusted_keys_file]
    found = exposed(paths)
    if found:
        return Check(name="key files", ok=False, detail="readable by others: " + "; ".join(found))
    return Check(name="key files", ok=True, detail="data directory 0700, keys 0600")


async def _temporal(settings: Settings) -> list[Check]:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    from vein2vein.observability import make_client_options
    from workflows.client import connect
    from workflows.engine.search import SEARCH_ATTRIBUTES

    try:
        client = await asyncio.wait_for(
            connect(settings.address, settings.namespace, **make_client_options(settings)),
            TEMPORAL_TIMEOUT,
        )
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=settings.namespace),
            timeout=timedelta(seconds=TEMPORAL_TIMEOUT),
        )
    except Exception as e:  # unreachable or refusing: the finding
        detail = f"{settings.address}: {type(e).__name__}: {e}"
        return [Check(name="temporal", ok=False, detail=detail)]
    reach = Check(name="temporal", ok=True, detail=f"{settings.address} ({settings.namespace})")
    custom = set(listed.custom_attributes)
    missing = sorted(k.name for k in SEARCH_ATTRIBUTES if k.name not in custom)
    attrs = Check(
        name="search attributes",
        ok=not missing,
        detail=f"missing: {', '.join(missing)}" if missing else "batch attributes registered",
    )
    return [reach, attrs]


def _definitions(settings: Settings) -> list[Check]:
    from definitions import load_catalog
    from definitions.lock import BUILT_IN_LOCK, DefinitionLock, lock_problems

    catalog = load_catalog(settings.extra_definitions)
    lock = DefinitionLock.load(settings.definition_lock_path or BUILT_IN_LOCK)
    problems = lock_problems(catalog.values(), lock)
    out = [
        Check(
            name="definition lock",
            ok=not problems,
            detail="; ".join(problems) or f"{len(catalog)} product versions as locked",
        )
    ]
    if settings.require_approval:
        from records import Ledger
        from records.approvals import Approvals

        with Ledger.from_url(settings.ledger) as ledger:
            now = datetime.now(UTC)
            refusals = [r for d in catalog.values() if (r := Approvals(ledger).refusal(d, now))]
        out.append(
            Check(
                name="definition approvals",
                ok=not refusals,
                detail="; ".join(refusals) or "every product version approved and in use",
            )
        )
    return out
