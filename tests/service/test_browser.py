"""In real Chromium: a QA person signs in, finds the batch waiting for release in the inbox,
signs it, and sees the status change without reloading.

Needs Debian's `chromium` (apt-get install -y chromium); `playwright install` does not work
offline. Set VEIN2VEIN_SKIP_BROWSER=1 to skip where no browser can be installed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from definitions import AUTOLOGOUS_CD19_CAR_T
from tests.harness import Harness
from tests.service.support import People
from workflows.model import Role

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    found = os.environ.get("VEIN2VEIN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        if os.environ.get("VEIN2VEIN_SKIP_BROWSER") == "1":
            pytest.skip("VEIN2VEIN_SKIP_BROWSER=1 and Chromium is not installed")
        pytest.fail(
            "Chromium is missing: run `apt-get install -y chromium` (Debian), point "
            "VEIN2VEIN_CHROMIUM at a Chromium binary, or set VEIN2VEIN_SKIP_BROWSER=1",
            pytrace=False,
        )
    return found


@pytest.fixture
async def page() -> AsyncIterator[object]:
    executable = _chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = await browser.new_context()
        yield await context.new_page()
        await browser.close()


async def test_qa_signs_a_release_in_the_browser(
    page: object, live_url: str, harness: Harness, people: People, tmp_path: Path
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    handle = await harness.start(AUTOLOGOUS_CD19_CAR_T)
    await harness.until_waiting(handle, "decision at qa_disposition", step=timedelta(hours=6))
    user_id, password = people.make(Role.QA, name="Quinn Browser")

    await page.goto(f"{live_url}/console/inbox")
    await expect(page).to_have_url(f"{live_url}/login?next=/console/inbox")
    await page.fill("#user_id", user_id)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{live_url}/console/inbox")

    row = page.locator(f'tr[data-batch="{handle.id}"][data-target="qa_disposition"]')
    await expect(row).to_be_visible()
    await page.screenshot(path=str(tmp_path / "inbox.png"), full_page=True)
    await row.locator("a.decide").click()
    await expect(page.locator("h1")).to_contain_text(f"Decide qa_disposition on {handle.id}")
    await expect(page.locator("#meaning")).to_have_value("I certify this batch for release")
    await page.fill("#reason", "Release specification met; record reviewed by exception")
    await page.fill("#password", password)
    await page.screenshot(path=str(tmp_path / "decide.png"), full_page=True)
    await page.click("#sign")

    await expect(page.locator("#notice")).to_contain_text("was recorded")
    status = page.locator("#status")
    await expect(status).to_have_text("released", timeout=15_000)  # live update, no reload
    signatures = page.locator("#signatures")
    await expect(signatures).to_contain_text("Quinn Browser")
    await expect(signatures).to_contain_text("I certify this batch for release")
    await page.screenshot(path=str(tmp_path / "released.png"), full_page=True)
    rec = await harness.record(handle)
    assert rec.released and rec.signatures[-1].signer_id == user_id


async def _sign_in(page: object, live_url: str, user: tuple[str, str], target: str) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.goto(f"{live_url}{target}")
    await page.fill("#user_id", user[0])
    await page.fill("#password", user[1])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{live_url}{target}")


async def test_every_process_diagram_is_drawn_by_the_bundled_mermaid(
    page: object, live_url: str, people: People, tmp_path: Path
) -> None:
    """Mermaid 11 parses and draws each catalog product's diagram, loading nothing from
    another host."""
    from playwright.async_api import Page, Request, expect

    from definitions import CATALOG

    assert isinstance(page, Page)
    elsewhere: list[str] = []

    def watch(request: Request) -> None:
        if not request.url.startswith(live_url):
            elsewhere.append(request.url)

    page.on("request", watch)
    await _sign_in(page, live_url, people.make(Role.PROCESS_ENGINEER), "/console/definitions")
    for product in CATALOG:
        await page.goto(f"{live_url}/console/definitions/{product}")
        diagram = page.locator("#diagram")
        await expect(diagram).to_have_attribute("data-diagram", "rendered", timeout=20_000)
        await expect(page.locator("#diagram-error")).to_be_hidden()
        await expect(diagram.locator("svg g.node").first).to_be_visible()
        assert await diagram.locator("svg g.node").count() >= 3, product
        await page.screenshot(path=str(tmp_path / f"{product}.png"), full_page=True)
    assert elsewhere == []


async def test_the_batch_page_shows_the_timeline_picture(
    page: object, live_url: str, harness: Harness, people: People, tmp_path: Path
) -> None:
    from playwright.async_api import Page, expect

    from tests.products import FLAKY_BOOKING

    assert isinstance(page, Page)
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    await _sign_in(page, live_url, people.make(Role.QA), f"/console/batches/{handle.id}")
    chart = page.locator("svg#timeline-chart")
    await expect(chart).to_be_visible()
    assert await chart.locator("rect.run").count() >= 2
    await page.screenshot(path=str(tmp_path / "timeline.png"), full_page=True)
