"""A password somebody else chose must be replaced before anything else (issue 14, item 5):
users added or reset by an administrator and the demonstration users are flagged; their first
console sign-in leads to the password page, the API and the signing paths refuse them, and the
change clears the flag, ends their other sessions and is written to the security log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import create_engine, inspect, select, text

from tests.records.conftest import ledger_url, postgres_admin  # noqa: F401  (fixtures)
from tests.service.support import FAST_HASHER, ROOT, Client, People, key, login
from vein2vein.service import admin
from vein2vein.service.auth import SESSION_COOKIE
from vein2vein.service.db import open_database, users
from workflows.model import Role


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _flagged(people: People, role: Role) -> tuple[str, str]:
    """A user an administrator added (so still flagged)."""
    user_id, password = people.make(role)
    people.identity.users.change(user_id, must_change_password=True)
    return user_id, password


async def test_an_admin_set_password_must_be_replaced_before_anything_else(
    client: Client, people: People
) -> None:
    user_id, password = "qa-new-hire", "admin-chose-this"
    admin.add_user(
        people.identity, user_id, "New Hire", [Role.QA], password, by=ROOT, hasher=FAST_HASHER
    )
    assert people.identity.users.get(user_id).must_change_password  # type: ignore[union-attr]
    http = await client()
    signed_in = await login(http, user_id, password, next="/console/inbox")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/inbox"
    # Every console page leads to the password page, which keeps where the person was going.
    for page in ("/console", "/console/inbox", "/console/admin", "/console/definitions"):
        r = await http.get(page)
        assert r.status_code == 303, page
        assert r.headers["location"].startswith("/console/password?next=")
    form = await http.get("/console/password?next=/console/inbox")
    assert form.status_code == 200 and 'id="forced"' in form.text
    assert 'id="nav-inbox"' not in form.text  # no way around it in the header either
    # The API refuses the session, signing included, with the reason.
    inbox = await http.get("/api/inbox")
    assert inbox.status_code == 403 and "/console/password" in inbox.json()["detail"]
    decision = {"target": "release", "action": "approve", "role": "qa", "password": password}
    signed = await http.post(
        "/api/batches/B-0123456789/decisions", json=decision, headers={"Idempotency-Key": key()}
    )
    assert signed.status_code == 403
    # The form: anti-forgery token, the current password, the new one twice.
    csrf = _csrf(form.text)
    body = {"csrf": csrf, "current": password, "new": "mine-at-last", "next": "/console/inbox"}
    forged = await http.post(
        "/console/password", data={**body, "again": "mine-at-last", "csrf": "x"}
    )
    assert forged.status_code == 403
    differ = await http.post("/console/password", data={**body, "again": "mine-at-last!"})
    assert differ.status_code == 422 and "the two new passwords differ" in differ.text
    short = await http.post("/console/password", data={**body, "new": "short", "again": "short"})
    assert short.status_code == 422 and "at least 8 characters" in short.text
    same = await http.post("/console/password", data={**body, "new": password, "again": password})
    assert same.status_code == 422 and "must differ" in same.text
    wrong = await http.post(
        "/console/password", data={**body, "current": "not-it-at-all", "again": "mine-at-last"}
    )
    assert wrong.status_code == 401 and "wrong password" in wrong.text
    old_session = http.cookies[SESSION_COOKIE]
    other = await client()
    assert (await login(other, user_id, password)).status_code == 303
    done = await http.post("/console/password", data={**body, "again": "mine-at-last"})
    assert done.status_code == 303 and done.headers["location"] == "/console/inbox"
    assert http.cookies[SESSION_COOKIE] != old_session  # a fresh session for this browser
    assert (await http.get("/console/inbox")).status_code == 200
    assert (await http.get("/api/inbox")).status_code == 200
    assert (await other.get("/api/inbox")).status_code == 401  # every other session ended
    assert not people.identity.users.get(user_id).must_change_password  # type: ignore[union-attr]
    assert (await login(await client(), user_id, password)).status_code == 401
    assert (await login(await client(), user_id, "mine-at-last")).status_code == 303
    changed = [
        e
        for e in people.identity.security.entries(user_id=user_id)
        if e.event == "user.password_changed"
    ]
    assert changed and changed[0].actor == user_id and "changed by the user" in changed[0].detail
    assert all("mine-at-last" not in e.detail for e in people.identity.security.entries())


async def test_a_password_reset_by_an_admin_is_flagged_again_and_anyone_may_change_theirs(
    client: Client, people: People
) -> None:
    user_id, password = people.make(Role.OPERATOR)
    http = await client(user=(user_id, password))
    board = await http.get("/console")
    assert board.status_code == 200 and 'id="nav-password"' in board.text
    form = await http.get("/console/password")
    assert form.status_code == 200 and 'id="forced"' not in form.text
    done = await http.post(
        "/console/password",
        data={"csrf": _csrf(form.text), "current": password, "new": "b" * 12, "again": "b" * 12},
    )
    assert done.status_code == 303 and done.headers["location"] == "/console"
    admin.set_password(people.identity, user_id, "reset-by-admin", by=ROOT, hasher=FAST_HASHER)
    assert people.identity.users.get(user_id).must_change_password  # type: ignore[union-attr]
    assert "must change it" in people.identity.security.entries(user_id=user_id)[0].detail
    again = await client()
    await login(again, user_id, "reset-by-admin")
    assert (await again.get("/console")).headers["location"].startswith("/console/password")
    # An administrator setting their own password chose it: no flag.
    boss, boss_password = people.make(Role.ADMIN)
    admin.set_password(people.identity, boss, boss_password + "-2", by=boss, hasher=FAST_HASHER)
    assert not people.identity.users.get(boss).must_change_password  # type: ignore[union-attr]


async def test_sign_out_works_while_the_password_must_change(
    client: Client, people: People
) -> None:
    user = _flagged(people, Role.QA)
    http = await client(user=user)
    csrf = _csrf((await http.get("/console/password")).text)
    assert (await http.post("/logout", data={"csrf": csrf})).status_code == 303
    assert (await http.get("/console/password")).headers["location"].startswith("/login")


_OLD_USERS = """CREATE TABLE service_users (
    user_id TEXT PRIMARY KEY, printed_name TEXT NOT NULL, roles TEXT NOT NULL,
    password_hash TEXT, disabled BOOLEAN NOT NULL, created_at TEXT NOT NULL,
    changed_at TEXT, removed_at TEXT)"""


@pytest.mark.usefixtures("ledger_url")
def test_an_older_database_gains_the_column_on_start(ledger_url: str) -> None:  # noqa: F811
    old = create_engine(ledger_url)
    with old.begin() as conn:
        conn.execute(text(_OLD_USERS))
        conn.execute(
            text(
                "INSERT INTO service_users (user_id, printed_name, roles, disabled, created_at)"
                " VALUES ('qa-old', 'Old Timer', 'qa', false, '2024-01-01T00:00:00+00:00')"
            )
        )
    old.dispose()
    engine = open_database(ledger_url)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("service_users")}
        row = conn.execute(select(users).where(users.c.user_id == "qa-old")).one()
    assert "must_change_password" in columns
    assert row.must_change_password is False or row.must_change_password == 0
