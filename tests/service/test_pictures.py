"""Pictures where people look, over HTTP: the process pages with their bundled Mermaid, the
offline API docs, and every asset served by the service itself (nothing from another host)."""

from __future__ import annotations

import html
import re

from definitions import CATALOG, IN_VIVO_PATIENT
from tests.service.support import Client, People
from workflows.diagram import to_mermaid
from workflows.model import Role

_EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def _assets(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", page)


async def test_the_process_pages_need_a_session(client: Client) -> None:
    http = await client()
    for path in ("/console/definitions", f"/console/definitions/{IN_VIVO_PATIENT.product}"):
        r = await http.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


async def test_every_product_is_listed_with_version_hash_and_link(
    client: Client, people: People
) -> None:
    http = await client(user=people.make(Role.OPERATOR))
    page = await http.get("/console/definitions")
    assert page.status_code == 200
    assert 'href="/console/definitions"' in page.text  # the navigation names the page
    for defn in CATALOG.values():
        row = re.search(rf'<tr data-product="{defn.product}">(.*?)</tr>', page.text, re.S)
        assert row, defn.product
        assert f'href="/console/definitions/{defn.product}"' in row.group(1)
        assert defn.version in row.group(1) and defn.content_hash[:12] in row.group(1)
        assert "approved, in use" in row.group(1)  # the session approved every product


async def test_a_product_page_shows_its_approvals(client: Client, people: People) -> None:
    http = await client(user=people.make(Role.QA))
    page = await http.get(f"/console/definitions/{IN_VIVO_PATIENT.product}")
    state = re.search(r'<p id="approval-state" class="ok">(.*?)</p>', page.text, re.S)
    assert state and "approved and in use" in state.group(1)
    row = re.search(rf'<tr data-version="{IN_VIVO_PATIENT.version}">(.*?)</tr>', page.text, re.S)
    assert row and "Quality Approver" in row.group(1) and "in use" in row.group(1)


async def test_a_product_page_carries_its_diagram_and_loads_mermaid_from_this_service(
    client: Client, people: People
) -> None:
    http = await client(user=people.make(Role.QA))
    page = await http.get(f"/console/definitions/{IN_VIVO_PATIENT.product}")
    assert page.status_code == 200
    diagram = re.search(r'<pre class="mermaid" id="diagram">(.*?)</pre>', page.text, re.S)
    assert diagram and html.unescape(diagram.group(1)) == to_mermaid(IN_VIVO_PATIENT)
    assert IN_VIVO_PATIENT.content_hash in page.text
    assert not _EXTERNAL.search(page.text)
    # Scripts come as files from /static (a CSP of script-src 'self' allows them).
    assert _assets(page.text)[-2:] == ["/static/mermaid/mermaid.min.js", "/static/diagram.js"]
    for asset in _assets(page.text):
        served = await http.get(asset)
        assert served.status_code == 200 and len(served.content) > 500, asset
    assert (await http.get("/console/definitions/no-such-product")).status_code == 404
    assert (await http.get("/console/definitions/%3Cscript%3E")).status_code == 404


async def test_docs_reference_no_external_host_and_their_assets_are_served(
    client: Client,
) -> None:
    http = await client()
    docs = await http.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and not _EXTERNAL.search(docs.text)
    assert not re.search(r"https?://", docs.text)
    assets = _assets(docs.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert any(a.endswith("swagger-ui.css") for a in assets)
    for asset in assets:
        served = await http.get(asset)
        assert served.status_code == 200 and served.content, asset
    assert "url: '/openapi.json'" in docs.text or '"/openapi.json"' in docs.text
    assert (await http.get("/openapi.json")).json()["info"]["title"] == "vein2vein"
    assert (await http.get("/redoc")).status_code == 404  # it would load a script from a CDN
