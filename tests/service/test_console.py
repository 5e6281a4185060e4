"""Console pages over HTTP: sign-in, sessions, anti-forgery, board, inbox, batch page, signing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx

from activities import Fault
from definitions import AUTOLOGOUS_CD19_CAR_T
from tests.harness import Harness
from tests.products import FLAKY_BOOKING
from tests.service.support import Client, People, login
from vein2vein.service.auth import SESSION_COOKIE
from workflows.model import Role


def _field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no field {name}"
    return match.group(1)


async def test_pages_need_a_session_and_login_sets_a_strict_cookie(
    client: Client, people: People
) -> None:
    http = await client()
    r = await http.get("/console/inbox")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/console/inbox"
    user_id, password = people.make(Role.QA)
    r = await login(http, user_id, "wrong-one")
    assert r.status_code == 401 and "wrong password" in r.text
    r = await login(http, user_id, password, next="//evil.example")
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    for evil in ("/\\evil.example", "https://evil.example/", "/ok\nLocation: x"):
        again = await login(http, user_id, password, next=evil)
        assert again.headers["location"] == "/console"
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert (await http.get("/console/inbox")).status_code == 200
    http.cookies.set(
        SESSION_COOKIE, http.cookies[SESSION_COOKIE][:-2] + "xx", domain="service.test"
    )
    assert (await http.get("/console/inbox")).status_code == 303


async def test_forms_refuse_a_missing_or_foreign_csrf_token(client: Client, people: People) -> None:
    http = await client(user=people.make(Role.QA))
    r = await http.post("/logout", data={"csrf": "0" * 32})
    assert r.status_code == 403
    page = (await http.get("/console")).text
    r = await http.post("/logout", data={"csrf": _field(page, "csrf")})
    assert r.status_code == 303 and r.headers["location"] == "/login"


async def test_the_login_form_refuses_a_missing_or_foreign_token(
    client: Client, people: People
) -> None:
    user_id, password = people.make(Role.QA)
    http = await client()
    r = await http.post("/login", data={"user_id": user_id, "password": password})
    assert r.status_code == 403 and SESSION_COOKIE not in r.cookies
    await http.get("/login")  # the browser holds a login cookie now; the form token is foreign
    forged = {"user_id": user_id, "password": password, "login_csrf": "0" * 32}
    r = await http.post("/login", data=forged)
    assert r.status_code == 403 and SESSION_COOKIE not in r.cookies
    other = await client()
    page = (await other.get("/login")).text  # a token made for another browser's cookie
    r = await http.post("/login", data={**forged, "login_csrf": _field(page, "login_csrf")})
    assert r.status_code == 403
    assert (await login(http, user_id, password)).status_code == 303


async def test_a_session_cookie_is_worthless_after_logout(client: Client, people: People) -> None:
    http = await client(user=people.make(Role.QA))
    stolen = http.cookies[SESSION_COOKIE]
    page = (await http.get("/console")).text
    assert (await http.post("/logout", data={"csrf": _field(page, "csrf")})).status_code == 303
    replay = await client()
    replay.cookies.set(SESSION_COOKIE, stolen, domain="service.test")
    assert (await replay.get("/console/inbox")).status_code == 303
    assert (await replay.get("/api/inbox")).status_code == 401


async def test_board_filters_and_batch_page_show_the_record(
    client: Client, people: People, harness: Harness
) -> None:
    handle = await harness.start(
        FLAKY_BOOKING,
        faults=[Fault(kind="temperature_excursion", step="receipt")],
        treatment_centre="TC-SOUTH",
    )
    await harness.until_waiting(handle, "disposition of DEV-1")
    http = await client(user=people.make(Role.OPERATOR))
    board = (await http.get("/console", params={"site": "TC-SOUTH"})).text
    assert handle.id in board
    row = board[board.index(f'data-batch="{handle.id}"') :].split("</tr>")[0]
    assert "quarantined" in row and "DEV-1" in row
    held = (await http.get("/console", params={"status": "released"})).text
    assert handle.id not in held
    page = (await http.get(f"/console/batches/{handle.id}")).text
    for section in ("timeline", "custody", "holds", "results", "deviations", "signatures"):
        assert f'id="{section}"' in page
    assert "temperature_excursion" in page and "receipt_to_expanded" in page
    partial = await http.get(f"/console/batches/{handle.id}", headers={"X-Partial": "1"})
    assert 'data-live="head"' in partial.text and "<html" not in partial.text
    assert "Dispose of DEV-1" not in page, "an operator may not dispose of deviations"


def _table(html: str, table_id: str) -> str:
    return html[html.index(f'id="{table_id}"') :].split("</table>")[0]


async def test_batch_page_and_board_show_what_the_batch_awaits_and_its_clocks(
    client: Client, people: People, harness: Harness
) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "event custody at receipt", step=timedelta(minutes=30))
    http = await client(user=people.make(Role.OPERATOR))
    page = (await http.get(f"/console/batches/{handle.id}")).text
    awaiting = _table(page, "awaiting")
    assert "event custody at receipt" in awaiting and 'data-kind="event"' in awaiting
    clocks = _table(page, "clocks")
    assert "<td>receipt</td><td>deadline</td>" in clocks and " left</td>" in clocks
    holds = _table(page, "holds")
    assert "receipt_to_expanded" in holds and "not started" in holds
    board = (await http.get("/console")).text
    row = board[board.index(f'data-batch="{handle.id}"') :].split("</tr>")[0]
    assert "event custody at receipt" in row and "since" in row and " left</b>" in row
    assert 'data-risk="fine">receipt <small>deadline</small>' in row
    await handle.cancel()
    await harness.finish(handle)


async def _sign_via_form(
    http: httpx.AsyncClient, batch_id: str, target: str, password: str, **fields: Any
) -> httpx.Response:
    form = await http.get(f"/console/batches/{batch_id}/decide", params={"target": target})
    assert form.status_code == 200, form.text
    data = {name: _field(form.text, name) for name in ("csrf", "form_id", "target", "record_hash")}
    data.update({"action": "approve", "role": "qa", "password": password, **fields})
    return await http.post(f"/console/batches/{batch_id}/decide", data=data)


async def test_qa_signs_the_release_from_the_inbox(
    client: Client, people: People, harness: Harness
) -> None:
    handle = await harness.start(AUTOLOGOUS_CD19_CAR_T)
    await harness.until_waiting(handle, "decision at qa_disposition", step=timedelta(hours=6))
    qa = people.make(Role.QA, name="Quinn Console")
    http = await client(user=qa)
    inbox = (await http.get("/console/inbox")).text
    assert f'data-batch="{handle.id}" data-target="qa_disposition"' in inbox
    assert 'data-live="inbox"' in inbox, "the inbox refreshes itself"
    operator = await client(user=people.make(Role.OPERATOR))
    assert handle.id not in (await operator.get("/console/inbox")).text
    assert (
        await operator.get(
            f"/console/batches/{handle.id}/decide", params={"target": "qa_disposition"}
        )
    ).status_code == 403
    wrong = await _sign_via_form(
        http,
        handle.id,
        "qa_disposition",
        "not-my-password",
        reason="Reviewed <all> results",
        meaning="I certify this batch, typed",
        action="reject",
    )
    assert wrong.status_code == 401 and "wrong password" in wrong.text
    # What the signer typed survives the refusal, escaped; the password never comes back.
    assert ">Reviewed &lt;all&gt; results</textarea>" in wrong.text
    assert 'value="I certify this batch, typed"' in wrong.text
    assert '<option value="reject" selected>' in wrong.text
    assert "not-my-password" not in wrong.text
    assert re.search(r'<input id="password" name="password" type="password"[^>]*>', wrong.text)
    assert 'name="password" value' not in wrong.text
    ok = await _sign_via_form(http, handle.id, "qa_disposition", qa[1], reason="all in spec")
    assert ok.status_code == 303, ok.text
    rec = await harness.advance_until(handle, lambda r: r.released, what="released")
    page = (await http.get(ok.headers["location"])).text
    assert "was recorded" in page and "Quinn Console" in page
    assert "I certify this batch for release" in page
    assert rec.signatures[-1].printed_name == "Quinn Console"


async def test_admin_sees_throttled_users_and_unlocks_them(client: Client, people: People) -> None:
    locked_id, _ = people.make(Role.QA)
    anonymous = await client()
    for _ in range(3):
        await login(anonymous, locked_id, "wrong-pass")
    http = await client(user=people.make(Role.ADMIN))
    page = (await http.get("/console/admin")).text
    row = page[page.index(f"<td>{locked_id}</td>") :].split("</tr>")[0]
    assert "throttled" in row and f'action="/console/admin/unlock/{locked_id}"' in row
    r = await http.post(f"/console/admin/unlock/{locked_id}", data={"csrf": _field(page, "csrf")})
    assert r.status_code == 303
    page = (await http.get("/console/admin")).text
    row = page[page.index(f"<td>{locked_id}</td>") :].split("</tr>")[0]
    assert "throttled" not in row and "user.unlocked" in page
