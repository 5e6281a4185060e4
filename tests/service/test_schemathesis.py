"""Schemathesis against the served OpenAPI document: whatever it sends, never a 5xx.

Runs the schemathesis CLI in a subprocess against the live server (the service and the worker
share this test's event loop, so a blocking client in-process would stall both). Bounded: a
fixed seed, the fuzzing phase only with `EXAMPLES` cases per operation, two passes: an
integration token holding every scope, and a person holding every role for the operations only
a person may use.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import httpx

from tests.service.support import People, login, make_token
from vein2vein.service.auth import SESSION_COOKIE
from vein2vein.service.tokens import SCOPES
from vein2vein.settings import Settings
from workflows.model import Role

EXAMPLES = 20
MAX_CASES = 400  # bounded: about 25 cases per operation
TIME_LIMIT = 45.0
#: Operations only a signed-in person may use; the token pass leaves them to the person pass.
PERSON_ONLY = r"^/api/(inbox|security-log|users/.*|batches/[^/]+/decisions)$"


async def _run(url: str, header: str, select: list[str], report: Path) -> tuple[int, str]:
    exe = Path(sys.executable).parent / "schemathesis"
    proc = await asyncio.create_subprocess_exec(
        str(exe),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        "fuzzing",
        *select,
        "--seed",
        "20260101",
        "--suppress-health-check",
        "all",
        "--no-shrink",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--header",
        header,
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
        cwd=report.parent,  # schemathesis keeps a cache directory in its working directory
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=TIME_LIMIT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"schemathesis took longer than {TIME_LIMIT}s") from None
    return int(proc.returncode or 0), out.decode(errors="replace")


async def test_no_input_makes_the_service_fail(
    live_url: str, service_settings: Settings, people: People, tmp_path: Path
) -> None:
    token = make_token(service_settings, "fuzzer", list(SCOPES))
    user_id, password = people.make(*Role, name="Fuzz Everyrole")
    async with httpx.AsyncClient(base_url=live_url) as http:
        r = await login(http, user_id, password)
        session = r.cookies[SESSION_COOKIE]
    passes = {
        "token": (f"Authorization: Bearer {token}", ["--exclude-path-regex", PERSON_ONLY]),
        "person": (f"Cookie: {SESSION_COOKIE}={session}", ["--include-path-regex", PERSON_ONLY]),
    }
    for name, (header, select) in passes.items():
        code, out = await _run(live_url, header, select, tmp_path / f"{name}.xml")
        assert code == 0, f"{name} pass found server errors:\n{out[-6000:]}"
        counts = re.search(r"(\d+) generated, (\d+) passed", out)
        assert counts is not None, out[-3000:]
        generated = int(counts.group(1))
        print(f"{name}: {generated} cases")
        assert generated == int(counts.group(2)) and 40 < generated <= MAX_CASES, out[-3000:]
