"""Change control of definitions: the committed lock holds every product version with its
content hash; a definition changed without a new version fails here (and `definitions
validate`), naming the product; every locked version has a committed history that replays."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from definitions import CATALOG
from definitions.lock import BUILT_IN_LOCK, DefinitionLock, LockRefused, lock_problems
from vein2vein.cli import app
from vein2vein.demo_time import at_speed
from workflows.definition import CompiledDefinition, recompiled

HISTORIES = Path(__file__).parent / "histories"


def _changed(defn: CompiledDefinition, version: str | None = None) -> CompiledDefinition:
    """`defn` with one process duration changed (what a careless edit does)."""
    faster = at_speed(defn, 2, floor=timedelta(seconds=1))
    return recompiled(faster, version=version or defn.version)


@pytest.mark.requirement("P11-10k", "A11-4")
def test_the_catalog_matches_the_committed_lock() -> None:
    assert lock_problems(CATALOG.values(), DefinitionLock.load(BUILT_IN_LOCK)) == []


@pytest.mark.requirement("P11-10k", "A11-4")
def test_a_changed_definition_needs_a_new_version() -> None:
    lock = DefinitionLock.load(BUILT_IN_LOCK)
    car_t = CATALOG["autologous-cd19-car-t"]
    edited = _changed(car_t)

    (problem,) = lock_problems([edited], lock)
    assert problem.startswith(
        f"autologous-cd19-car-t {car_t.version} changed without a new version"
    )
    with pytest.raises(LockRefused, match=f"autologous-cd19-car-t {re.escape(car_t.version)}"):
        lock.with_versions([edited])

    bumped = _changed(car_t, car_t.version + ".1")
    (problem,) = lock_problems([bumped], lock)
    assert f"autologous-cd19-car-t {bumped.version} is not in the definition lock" in problem
    relocked = lock.with_versions([bumped])
    assert relocked.locked("autologous-cd19-car-t", bumped.version) == bumped.content_hash
    assert relocked.locked("autologous-cd19-car-t", car_t.version) == car_t.content_hash  # kept


def test_definitions_validate_and_lock_on_the_command_line(tmp_path: Path) -> None:
    lock_file = tmp_path / "lock.json"
    stale = DefinitionLock.load(BUILT_IN_LOCK).model_dump()
    in_vivo = CATALOG["in-vivo-cd19-lnp"].version
    stale["products"]["in-vivo-cd19-lnp"][in_vivo] = "0" * 64
    lock_file.write_text(json.dumps(stale))
    env = {"VEIN2VEIN_DEFINITION_LOCK": str(lock_file), "COLUMNS": "200"}
    runner = CliRunner()

    refused = runner.invoke(app, ["definitions", "validate"], env=env)
    assert refused.exit_code == 1
    assert f"in-vivo-cd19-lnp {in_vivo} changed without a new version" in refused.output
    not_relocked = runner.invoke(app, ["definitions", "lock"], env=env)
    assert not_relocked.exit_code == 1 and f"in-vivo-cd19-lnp {in_vivo}" in not_relocked.output
    assert json.loads(lock_file.read_text()) == stale  # nothing changed

    fresh = tmp_path / "fresh.json"
    env["VEIN2VEIN_DEFINITION_LOCK"] = str(fresh)
    locked = runner.invoke(app, ["definitions", "lock"], env=env)
    car_t = CATALOG["autologous-cd19-car-t"].version
    assert locked.exit_code == 0 and f"locked autologous-cd19-car-t {car_t}" in locked.output
    assert runner.invoke(app, ["definitions", "validate"], env=env).exit_code == 0


def _pinned(path: Path) -> tuple[str, str]:
    start = json.loads(path.read_text())["events"][0]
    attrs = start["workflowExecutionStartedEventAttributes"]
    definition = json.loads(base64.b64decode(attrs["input"]["payloads"][0]["data"]))["definition"]
    return definition["product"], definition["content_hash"]


@pytest.mark.requirement("A11-4")
def test_every_locked_version_has_a_committed_history() -> None:
    recorded = {_pinned(p) for p in HISTORIES.glob("*.json")}
    lock = DefinitionLock.load(BUILT_IN_LOCK)
    missing = [
        f"{product} {version}"
        for product, versions in lock.products.items()
        for version, content_hash in versions.items()
        if (product, content_hash) not in recorded
    ]
    assert missing == [], f"record a history for each (tests/history_versions.py): {missing}"
