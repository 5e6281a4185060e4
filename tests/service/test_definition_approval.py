"""QA approves a definition version for use in the console: the password asked again, the
signature over the content hash shown, the approval and its signer on the process page; a
wrong password keeps what was typed; a role that may not approve sees no form and is refused."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from definitions.lock import DefinitionLock
from records import Ledger
from tests.harness import Harness
from tests.products import FLAKY_BOOKING
from tests.service.support import BASE, People, login
from vein2vein.demo_time import at_speed
from vein2vein.service.app import create_app
from vein2vein.settings import Settings
from workflows.model import Role

#: A version nobody approved yet (the session approves the catalog's).
FRESH = at_speed(FLAKY_BOOKING, 3, floor=timedelta(seconds=1))
PAGE = f"/console/definitions/{FRESH.product}"


@pytest.fixture
async def http_for(
    harness: Harness, ledger: Ledger, service_settings: Settings, tmp_path: Path
) -> AsyncIterator[object]:
    lock = tmp_path / "lock.json"
    DefinitionLock().with_versions([FRESH]).save(lock)
    settings = Settings(
        data_dir=service_settings.data_dir,
        ledger_url=ledger.engine.url.render_as_string(hide_password=False),
        definition_lock_path=lock,
    )
    app = create_app(settings, harness.client, key=harness.key, catalog={FRESH.product: FRESH})
    made: list[httpx.AsyncClient] = []

    async def make(user: tuple[str, str]) -> httpx.AsyncClient:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
        made.append(http)
        assert (await login(http, *user)).status_code == 303
        return http

    yield make
    for http in made:
        await http.aclose()


def _csrf(page: str) -> str:
    found = re.search(
        r'<form method="post" action="[^"]+/approve".*?name="csrf" value="([^"]+)"', page, re.S
    )
    assert found, page
    return found.group(1)


@pytest.mark.requirement("P11-10k", "P11-200", "PROD-APPROVAL")
async def test_qa_approves_a_version_in_the_console(http_for, people: People) -> None:  # type: ignore[no-untyped-def]
    qa_id, qa_password = people.make(Role.QA, name="Quinn Console")
    qa = await http_for((qa_id, qa_password))
    page = (await qa.get(PAGE)).text
    assert 'id="approve"' in page and "is not approved for use" in page
    form = {
        "csrf": _csrf(page),
        "content_hash": FRESH.content_hash,
        "role": "qa",
        "reason": "CR-204 reviewed and validated",
        "password": "not-my-password",
    }
    wrong = await qa.post(f"{PAGE}/approve", data=form)
    assert wrong.status_code == 401
    assert 'id="approve-error"' in wrong.text and "CR-204 reviewed and validated" in wrong.text
    assert "not-my-password" not in wrong.text

    signed = await qa.post(f"{PAGE}/approve", data={**form, "password": qa_password})
    assert signed.status_code == 303, signed.text
    after = (await qa.get(PAGE)).text
    assert "approved and in use" in after and 'id="approve"' not in after
    row = re.search(rf'<tr data-version="{re.escape(FRESH.version)}">(.*?)</tr>', after, re.S)
    assert row and "Quinn Console" in row.group(1) and "CR-204" in row.group(1)


async def test_an_operator_sees_no_form_and_may_not_approve(http_for, people: People) -> None:  # type: ignore[no-untyped-def]
    user = people.make(Role.OPERATOR)
    op = await http_for(user)
    page = (await op.get(PAGE)).text
    assert 'id="approve"' not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    refused = await op.post(
        f"{PAGE}/approve",
        data={
            "csrf": csrf.group(1),
            "content_hash": FRESH.content_hash,
            "role": "operator",
            "reason": "me too",
            "password": user[1],
        },
    )
    assert refused.status_code == 403 and "may not approve" in refused.text
