"""The traceability matrix of a run: a requirement is verified only by a passing test that
claims it; a run with an unverified requirement fails; a claim of an unknown id is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = """
[[requirement]]
id = "REQ-A"
source = "test"
text = "A holds."

[[requirement]]
id = "REQ-B"
source = "test"
text = "B holds."
"""


def _run(tmp_path: Path, tests: str) -> tuple[int, str]:
    (tmp_path / "requirements.toml").write_text(CATALOGUE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_claims.py").write_text(tests)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.traceability",
            "-c",
            "pytest.ini",
            "--traceability",
            "out",
            "--requirements",
            "requirements.toml",
            "test_claims.py",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_only_a_passing_claim_verifies_and_a_gap_fails_the_run(tmp_path: Path) -> None:
    code, output = _run(
        tmp_path,
        "import pytest\n\n"
        "@pytest.mark.requirement('REQ-A')\ndef test_a():\n    assert True\n\n"
        "@pytest.mark.requirement('REQ-B')\ndef test_b():\n    assert False\n",
    )
    assert code == 1, output
    matrix = json.loads((tmp_path / "out" / "traceability.json").read_text())
    by_id = {r["id"]: r for r in matrix["requirements"]}
    assert by_id["REQ-A"]["verified"] and by_id["REQ-A"]["tests"][0]["result"] == "passed"
    assert not by_id["REQ-B"]["verified"] and by_id["REQ-B"]["tests"][0]["result"] == "failed"
    assert matrix["run"]["commit"] and "temporalio" in matrix["run"]["dependencies"]
    assert "autologous-cd19-car-t" in matrix["run"]["definitions"]
    assert "NOT VERIFIED" in (tmp_path / "out" / "traceability.html").read_text()
    assert "no passing test for REQ-B" in output


def test_every_requirement_verified_passes_and_unknown_ids_are_refused(tmp_path: Path) -> None:
    code, output = _run(
        tmp_path,
        "import pytest\n\n@pytest.mark.requirement('REQ-A', 'REQ-B')\n"
        "def test_ab():\n    assert True\n",
    )
    assert code == 0, output
    code, output = _run(
        tmp_path,
        "import pytest\n\n@pytest.mark.requirement('REQ-Z')\ndef test_z():\n    assert True\n",
    )
    assert code == 4 and "unknown ids: REQ-Z" in output, output
