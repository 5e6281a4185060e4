"""The layers import downwards only: the engine, the activities, the records and the
definitions never import the HTTP service or the CLI, the engine imports neither the activities
nor the records, and no package imports the top-level `worker.py` (it is an entry point; worker
construction lives in `vein2vein.worker`).

Every import statement is read from the source with `ast`, including those inside functions,
so a lazy import cannot hide a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Packages below the service and the CLI.
LOWER_LAYERS = ("workflows", "activities", "records", "definitions", "simulation")
#: What those packages must not import (the modules and everything under them).
UPPER_LAYERS = ("vein2vein.service", "vein2vein.cli")
#: Every package of the distribution: none imports the entry-point module `worker`.
PACKAGES = (*LOWER_LAYERS, "vein2vein")


def _modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def imported_names(source: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every module an import statement in `source` names, with
    `from a import b` giving both `a` and `a.b` (b may be a module)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for package in packages
        for path in _modules(package)
        for line, name in imported_names(path.read_text())
        if _under(name, forbidden)
    ]


@pytest.mark.parametrize("package", LOWER_LAYERS)
def test_lower_layers_never_import_the_service_or_the_cli(package: str) -> None:
    assert _violations((package,), UPPER_LAYERS) == []


def test_the_engine_never_imports_activities_or_records() -> None:
    assert _violations(("workflows",), ("activities", "records")) == []


def test_no_package_imports_the_worker_entry_point() -> None:
    assert _violations(PACKAGES, ("worker",)) == []


def test_the_check_sees_lazy_and_from_imports() -> None:
    source = (
        "from vein2vein import cli\n"
        "def f():\n"
        "    from vein2vein.service.tasks import register\n"
        "    import worker\n"
    )
    names = {name for _, name in imported_names(source)}
    assert {"vein2vein.cli", "vein2vein.service.tasks", "worker"} <= names
