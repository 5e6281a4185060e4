"""The engine is passed through Temporal's sandbox (`workflows.sandbox`), so the sandbox no
longer stops it reading the clock, drawing random numbers or touching the network at run time.
This test takes over that guard, statically: no module that runs inside a batch's workflow may
import a source of non-determinism or call the host's clock. Workflow code uses
`workflow.now()`, `workflow.random()` and `workflow.uuid4()`; everything else is an activity.

Every import and attribute access is read from the source with `ast`, including those inside
functions, so a lazy import cannot hide.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_layering import imported_names

ROOT = Path(__file__).resolve().parents[1]

#: The host side of `workflows`, never run inside a workflow: the Temporal client (starts
#: batches, sends updates), key creation in `workflows.signatures` (the CLI and the service
#: create keys; a workflow calls only its pure `verify`) and the payload codec (the data
#: converter encrypts and decrypts outside the workflow, around every payload).
HOST_SIDE = ("client.py", "signatures.py", "codec.py")
#: What runs inside a batch's workflow: all of `workflows` but its host side.
WORKFLOW_CODE = sorted(
    p
    for p in (ROOT / "workflows").rglob("*.py")
    if p.relative_to(ROOT / "workflows").as_posix() not in HOST_SIDE
)

#: Modules whose use inside a workflow is non-deterministic or does I/O.
FORBIDDEN_MODULES = (
    "time",
    "random",
    "uuid",
    "os",
    "socket",
    "threading",
    "subprocess",
    "secrets",
    "sqlite3",
    "sqlalchemy",
    "httpx",
    "requests",
    "activities",
    "records",
    "vein2vein",
)
#: Host clock reads, whatever `datetime` was imported as.
CLOCK_CALLS = ("now", "utcnow", "today")
FORBIDDEN_BUILTINS = ("open", "input")


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _problems(path: Path, root: Path = ROOT) -> list[str]:
    source = path.read_text()
    where = path.relative_to(root)
    found = [
        f"{where}:{line} imports {name}"
        for line, name in imported_names(source)
        if _under(name, FORBIDDEN_MODULES)
    ]
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCK_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("datetime", "date")
        ):
            found.append(f"{where}:{node.lineno} reads the host clock ({node.func.attr})")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORBIDDEN_BUILTINS
        ):
            found.append(f"{where}:{node.lineno} calls {node.func.id}()")
    return found


@pytest.mark.parametrize("path", WORKFLOW_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_workflow_code_has_no_source_of_nondeterminism(path: Path) -> None:
    assert _problems(path) == []


def test_the_guard_sees_a_clock_read_and_a_lazy_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from datetime import datetime\n"
        "def f():\n"
        "    import random\n"
        "    return datetime.now(), random.random(), open('x')\n"
    )
    problems = [p.split(" ", 1)[1] for p in _problems(bad, tmp_path)]
    assert problems == ["imports random", "reads the host clock (now)", "calls open()"]
