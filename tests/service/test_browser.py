"""In real Chromium: a QA person signs in, finds the batch waiting for release in the inbox,
signs it, and sees the status change without reloading; and an operations lead's day on the
board (sort by risk, open a batch, read its clocks, sign its gate from a second window, watch
the first window's status change while its audit trail stays open).

Screenshots go to `test-artifacts/browser/` (ignored by git), or to VEIN2VEIN_TEST_ARTIFACTS.

Needs Debian's `chromium` (apt-get install -y chromium); `playwright install` does not work
offline. Set VEIN2VEIN_SKIP_BROWSER=1 to skip where no browser can be installed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from definitions import AUTOLOGOUS_CD19_CAR_T
from tests.harness import Harness
from tests.products import FLAKY_BOOKING
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
def shots(request: pytest.FixtureRequest) -> Path:
    """Where this test's screenshots go: kept after the run for a person to look at."""
    root = (
        os.environ.get("VEIN2VEIN_TEST_ARTIFACTS") or Path(__file__).parents[2] / "test-artifacts"
    )
    folder = Path(root) / "browser" / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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
    page: object, live_url: str, harness: Harness, people: People, shots: Path
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
    await page.screenshot(path=str(shots / "inbox.png"), full_page=True)
    await row.locator("a.decide").click()
    await expect(page.locator("h1")).to_contain_text(f"Decide qa_disposition on {handle.id}")
    await expect(page.locator("#meaning")).to_have_value("I certify this batch for release")
    await page.fill("#reason", "Release specification met; record reviewed by exception")
    await page.fill("#password", password)
    await page.screenshot(path=str(shots / "decide.png"), full_page=True)
    await page.click("#sign")

    await expect(page.locator("#notice")).to_contain_text("was recorded")
    status = page.locator("#status")
    await expect(status).to_have_text("released", timeout=15_000)  # live update, no reload
    signatures = page.locator("#signatures")
    await expect(signatures).to_contain_text("Quinn Browser")
    await expect(signatures).to_contain_text("I certify this batch for release")
    await page.screenshot(path=str(shots / "released.png"), full_page=True)
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


async def _polled(page: object) -> None:
    """Wait until the page's live update has polled once more than it had."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    polls = "Number(document.getElementById('main').dataset.polls || 0)"
    before = await page.evaluate(polls)
    # Polled from here: wait_for_function evaluates a string in the page, which the console's
    # Content-Security-Policy (no 'unsafe-eval') rightly refuses.
    for _ in range(150):
        if await page.evaluate(polls) > before:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the page did not poll again within 15 s")


async def test_operations_lead_day_on_the_board(
    page: object, live_url: str, harness: Harness, people: People, shots: Path
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    gate = await harness.start(AUTOLOGOUS_CD19_CAR_T)
    await harness.until_waiting(gate, "decision at qa_disposition", step=timedelta(hours=6))
    clocked = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(clocked, "event custody at receipt", step=timedelta(minutes=30))
    user_id, password = people.make(Role.QA, name="Olga Operations")

    await page.goto(f"{live_url}/console?sort=waiting")
    await page.fill("#user_id", user_id)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{live_url}/console?sort=waiting")
    await page.click('#sorts a[data-sort="urgency"]')
    await expect(page.locator("#board")).to_have_attribute("data-sort", "urgency")
    rows = page.locator("#board tbody tr")
    order = await rows.evaluate_all("rs => rs.map(r => r.dataset.batch)")
    assert order.index(clocked.id) < order.index(gate.id), "a running clock outranks a wait"
    clock = rows.locator(f'xpath=self::*[@data-batch="{clocked.id}"]').locator("div.clock")
    await expect(clock).to_have_attribute("data-risk", "fine")
    await expect(clock.locator("time")).to_have_attribute("title", re.compile(r"Z$"))

    # A chosen filter survives the live update that follows.
    await page.select_option("#f-status", "quarantined")
    await _polled(page)
    await expect(page.locator("#f-status")).to_have_value("quarantined")
    await page.screenshot(path=str(shots / "board.png"), full_page=True)

    await page.click(f'#board tr[data-batch="{gate.id}"] a')
    await expect(page.locator("h1")).to_contain_text(gate.id)
    await expect(page.locator("#holds")).to_contain_text("met in")
    await expect(page.locator("#next")).to_contain_text("for decision at qa_disposition")
    await page.click("#audit summary")
    entries = await page.locator("#audit summary").inner_text()
    await page.screenshot(path=str(shots / "batch-before.png"), full_page=True)

    # The lead signs in a second window; the first one is never reloaded.
    assert page.context.browser is not None
    other = await page.context.browser.new_context(storage_state=await page.context.storage_state())
    signer = await other.new_page()
    await signer.goto(f"{live_url}/console/batches/{gate.id}")
    await signer.click("#actions a.decide")
    await signer.fill("#reason", "Release specification met; reviewed by exception")
    await signer.fill("#password", "not-the-password")
    await signer.click("#sign")
    await expect(signer.locator("#error")).to_contain_text("wrong password")
    await expect(signer.locator("#reason")).to_have_value(
        "Release specification met; reviewed by exception"
    )
    await expect(signer.locator("#password")).to_have_value("")
    await signer.fill("#password", password)
    await signer.screenshot(path=str(shots / "decide.png"), full_page=True)
    await signer.click("#sign")
    await expect(signer.locator("#notice")).to_contain_text("was recorded")
    await other.close()

    await expect(page.locator("#status")).to_have_text("released", timeout=15_000)
    await expect(page.locator("#audit summary")).not_to_have_text(entries, timeout=15_000)
    assert await page.locator("#audit").evaluate("d => d.open"), "the audit trail stayed open"
    await expect(page.locator("#signatures")).to_contain_text("Olga Operations")
    await page.screenshot(path=str(shots / "batch-released.png"), full_page=True)
    await clocked.cancel()
    await harness.finish(clocked)
