"""The traceability matrix as evidence of every run: requirement -> tests -> result.

Tests claim what they verify with `@pytest.mark.requirement("P11-50", ...)`, ids from the
catalogue (`requirements.toml`). With `--traceability DIR` (as `make test` runs) the session
writes `DIR/traceability.json` and `DIR/traceability.html` with the run's date, code commit,
dependency versions and definition hashes, and fails when a catalogued requirement has no
passing test. A marker naming an id the catalogue does not hold is a usage error.
"""

from __future__ import annotations

import html
import json
import platform
import subprocess
import tomllib
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The packages whose versions the evidence names.
DEPENDENCIES = ("temporalio", "pydantic", "fastapi", "sqlalchemy", "cryptography", "pytest")
_OUTCOMES = pytest.StashKey[dict[str, str]]()
_CATALOGUE = pytest.StashKey[dict[str, dict[str, str]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--traceability DIR` writes the matrix there and enforces coverage."""
    group = parser.getgroup("traceability")
    group.addoption("--traceability", metavar="DIR", default=None, help="write the matrix")
    group.addoption(
        "--requirements",
        metavar="FILE",
        default=str(ROOT / "requirements.toml"),
        help="the requirements catalogue",
    )


def load_catalogue(path: Path) -> dict[str, dict[str, str]]:
    """id -> {source, text} from a requirements file."""
    raw = tomllib.loads(path.read_text())
    return {r["id"]: {"source": r["source"], "text": r["text"]} for r in raw["requirement"]}


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and read the catalogue."""
    config.addinivalue_line("markers", "requirement(*ids): requirements this test verifies")
    config.stash[_CATALOGUE] = load_catalogue(Path(config.getoption("--requirements")))
    config.stash[_OUTCOMES] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a claim of a requirement the catalogue does not hold."""
    known = config.stash[_CATALOGUE]
    unknown = sorted({i for item in items for i in _claims(item) if i not in known})
    if unknown:
        raise pytest.UsageError(f"requirement markers name unknown ids: {', '.join(unknown)}")


def _claims(item: pytest.Item) -> list[str]:
    return [str(i) for mark in item.iter_markers("requirement") for i in mark.args]


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """Note each claiming test's outcome (a failure in any phase fails it)."""
    claims = _claims(item)
    if not claims:
        return
    outcomes = item.config.stash[_OUTCOMES]
    if call.excinfo is not None:
        skipped = call.excinfo.errisinstance(pytest.skip.Exception)
        outcomes[item.nodeid] = "skipped" if skipped else "failed"
    elif call.when == "call":
        outcomes.setdefault(item.nodeid, "passed")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the matrix and fail the run when a requirement has no passing test."""
    target = session.config.getoption("--traceability")
    if target is None:
        return
    catalogue = session.config.stash[_CATALOGUE]
    outcomes = session.config.stash[_OUTCOMES]
    claims = {item.nodeid: _claims(item) for item in session.items if _claims(item)}
    matrix = build_matrix(catalogue, claims, outcomes)
    out = Path(target)
    out.mkdir(parents=True, exist_ok=True)
    (out / "traceability.json").write_text(json.dumps(matrix, indent=2) + "\n")
    (out / "traceability.html").write_text(render_html(matrix))
    uncovered = [r["id"] for r in matrix["requirements"] if not r["verified"]]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"traceability: {len(catalogue) - len(uncovered)}/{len(catalogue)} requirements"
            f" verified by a passing test; matrix in {out}/traceability.html"
        )
        if uncovered:
            reporter.write_line(f"traceability: no passing test for {', '.join(uncovered)}")
    if uncovered and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def build_matrix(
    catalogue: dict[str, dict[str, str]],
    claims: dict[str, list[str]],
    outcomes: dict[str, str],
) -> dict[str, Any]:
    """The matrix: the run's context, then each requirement with its tests and results."""
    requirements = []
    for rid, req in catalogue.items():
        tests = [
            {"test": node, "result": outcomes.get(node, "not run")}
            for node, ids in sorted(claims.items())
            if rid in ids
        ]
        verified = any(t["result"] == "passed" for t in tests)
        requirements.append({"id": rid, **req, "tests": tests, "verified": verified})
    return {"run": _context(), "requirements": requirements}


def _context() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    from definitions import CATALOG

    versions = {}
    for name in DEPENDENCIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "commit": commit,
        "python": platform.python_version(),
        "dependencies": versions,
        "definitions": {
            d.product: {"version": d.version, "content_hash": d.content_hash}
            for d in CATALOG.values()
        },
    }


def render_html(matrix: dict[str, Any]) -> str:
    """The matrix as one self-contained HTML page."""
    e = html.escape
    run = matrix["run"]
    rows = []
    for r in matrix["requirements"]:
        tests = "<br>".join(
            f'<span class="{e(t["result"])}">{e(t["result"])}</span> <code>{e(t["test"])}</code>'
            for t in r["tests"]
        )
        mark = "verified" if r["verified"] else "NOT VERIFIED"
        rows.append(
            f'<tr class="{"ok" if r["verified"] else "bad"}"><td>{e(r["id"])}</td>'
            f"<td>{e(r['source'])}</td><td>{e(r['text'])}</td><td>{mark}</td>"
            f"<td>{tests or 'no test claims it'}</td></tr>"
        )
    deps = ", ".join(f"{e(k)} {e(v)}" for k, v in run["dependencies"].items())
    defs = ", ".join(
        f"{e(p)} {e(d['version'])} <code>{e(d['content_hash'][:12])}</code>"
        for p, d in run["definitions"].items()
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>vein2vein traceability matrix</title><style>
body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px;
vertical-align:top}}table{{border-collapse:collapse}}.bad td{{background:#fde2e2}}
.failed{{color:#b00}}.passed{{color:#070}}</style></head><body>
<h1>Traceability matrix</h1>
<p>Run {e(run["date"])} · commit <code>{e(run["commit"])}</code> · Python
{e(run["python"])}</p><p>Dependencies: {deps}</p><p>Definitions: {defs}</p>
<table><tr><th>Requirement</th><th>Source</th><th>Text</th><th>Status</th><th>Tests</th></tr>
{"".join(rows)}</table></body></html>
"""
