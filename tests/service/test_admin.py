"""Users, passwords, tokens and sessions as administrators manage them, and what the database
keeps of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.service.support import (
    FAST_HASHER,
    ROOT,
    Client,
    People,
    login,
    make_token,
    own_password,
)
from vein2vein.service import admin
from vein2vein.service.db import api_tokens, open_database, users
from vein2vein.service.identity import Identity
from vein2vein.service.security import SecurityEvent
from vein2vein.settings import Settings
from workflows.model import Role


def _identity(tmp_path: Path) -> Identity:
    return Identity.open(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)


def _first_admin(identity: Identity) -> str:
    admin.add_user(identity, "boss", "Bo Boss", ["admin"], "boss-password", by=admin.BOOTSTRAP)
    return "boss"


def test_users_keep_argon2_hashes_only_and_only_an_admin_adds_them(tmp_path: Path) -> None:
    identity = _identity(tmp_path)
    with pytest.raises(ValueError, match="first user must be an administrator"):
        admin.add_user(identity, "qa-x", "X", ["qa"], "long enough", by=admin.BOOTSTRAP)
    boss = _first_admin(identity)
    with pytest.raises(admin.NotAdmin, match="users exist already"):
        admin.add_user(identity, "qa-x", "X", ["admin"], "long enough", by=admin.BOOTSTRAP)
    admin.add_user(identity, "qa-ada", "Ada Quality", ["qa"], "correct horse", by=boss)
    with pytest.raises(admin.NotAdmin):
        admin.add_user(identity, "qa-eve", "Eve", ["admin"], "long enough", by="qa-ada")
    with pytest.raises(admin.NotAdmin):
        admin.add_user(identity, "qa-eve", "Eve", ["admin"], "long enough", by="free text")
    engine = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    with engine.connect() as conn:
        stored = conn.scalar(select(users.c.password_hash).where(users.c.user_id == "qa-ada"))
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert not (tmp_path / "users.json").exists()
    with pytest.raises(ValueError, match="already exists"):
        admin.add_user(identity, "qa-ada", "Ada", ["qa"], "another pass", by=boss)
    with pytest.raises(ValueError, match="at least 8"):
        admin.add_user(identity, "qa-bob", "Bob", ["qa"], "short", by=boss)
    with pytest.raises(ValueError, match="roles"):
        admin.add_user(identity, "qa-bob", "Bob", ["auditor"], "long enough", by=boss)
    with pytest.raises(ValueError, match="invalid user id"):
        admin.add_user(identity, "Bob Smith", "Bob", ["qa"], "long enough", by=boss)
    with pytest.raises(ValueError, match="printed name"):
        admin.add_user(identity, "qa-bob", " ", ["qa"], "long enough", by=boss)
    events = [(e.event, e.actor, e.user_id) for e in identity.security.entries()]
    assert (SecurityEvent.USER_ADDED.value, boss, "qa-ada") in events


def test_disable_enable_remove_and_roles(tmp_path: Path) -> None:
    identity = _identity(tmp_path)
    boss = _first_admin(identity)
    admin.add_user(identity, "qp-q", "Q Person", ["qualified_person"], "pass-word-1", by=boss)
    own_password(identity, "qp-q")
    auth = identity.auth
    assert auth.check_signer("qp-q", "pass-word-1", Role.QUALIFIED_PERSON) is None
    admin.set_roles(identity, "qp-q", ["qa"], by=boss)
    assert "does not hold the role qualified_person" in (
        auth.check_signer("qp-q", "pass-word-1", Role.QUALIFIED_PERSON) or ""
    )
    assert admin.set_disabled(identity, "qp-q", True, by=boss) is True
    assert auth.check_signer("qp-q", "pass-word-1", Role.QA) == "unknown user or wrong password"
    assert admin.set_disabled(identity, "qp-q", False, by=boss) is True
    assert auth.check_signer("qp-q", "pass-word-1", Role.QA) is None
    with pytest.raises(ValueError, match="last active administrator"):
        admin.set_disabled(identity, boss, True, by=boss)
    with pytest.raises(ValueError, match="last active administrator"):
        admin.set_roles(identity, boss, ["qa"], by=boss)
    admin.remove_user(identity, "qp-q", by=boss)
    assert "qp-q" not in {u.user_id for u in admin.list_users(identity)}
    assert auth.check_signer("qp-q", "pass-word-1", Role.QA) == "unknown user or wrong password"
    with pytest.raises(ValueError, match="already exists"):  # ids are never given again
        admin.add_user(identity, "qp-q", "Other Q", ["qa"], "pass-word-2", by=boss)
    with pytest.raises(KeyError):
        admin.set_disabled(identity, "qp-q", False, by=boss)
    logged = [e.event for e in reversed(identity.security.entries(user_id="qp-q"))]
    for event in ("user.roles_changed", "user.disabled", "user.enabled", "user.removed"):
        assert event in logged
    assert all(
        e.actor == boss
        for e in identity.security.entries(user_id="qp-q")
        if e.event.startswith("user.")
    )


def test_unlock_clears_throttling_and_needs_an_admin(tmp_path: Path) -> None:
    identity = _identity(tmp_path)
    boss = _first_admin(identity)
    admin.add_user(identity, "qp-q", "Q Person", ["qualified_person"], "pass-word-1", by=boss)
    own_password(identity, "qp-q")
    for _ in range(3):
        assert "wrong password" in (identity.auth.check_signer("qp-q", "nope", Role.QA) or "")
    throttled = identity.auth.check_signer("qp-q", "pass-word-1", Role.QUALIFIED_PERSON) or ""
    assert "try again in" in throttled
    with pytest.raises(admin.NotAdmin):
        admin.unlock_user(identity, "qp-q", by="qp-q")
    assert admin.unlock_user(identity, "qp-q", by=boss) is True
    assert admin.unlock_user(identity, "qp-q", by=boss) is False
    assert identity.auth.check_signer("qp-q", "pass-word-1", Role.QUALIFIED_PERSON) is None
    with pytest.raises(KeyError):
        admin.unlock_user(identity, "nobody", by=boss)


def test_tokens_are_shown_once_stored_hashed_and_expire(tmp_path: Path) -> None:
    identity = _identity(tmp_path)
    boss = _first_admin(identity)
    token = admin.create_token(identity, "cryo-courier", ["custody"], by=boss, site="COURIER-1")
    assert token.startswith("v2v_")
    engine = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    with engine.connect() as conn:
        assert token.split("_", 2)[2] not in str(conn.execute(select(api_tokens)).all())
    found = identity.tokens.verify(token)
    assert found is not None and found.client == "cryo-courier" and found.scopes == ("custody",)
    assert found.site == "COURIER-1"
    assert found.expires_at - datetime.now(UTC) > timedelta(days=89)
    assert identity.tokens.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    with engine.begin() as conn:  # the token's 90 days are over
        conn.execute(update(api_tokens).values(expires_at=datetime.now(UTC).isoformat()))
    assert identity.tokens.verify(token) is None
    assert admin.list_tokens(identity)[0].state == "expired"
    short = admin.create_token(identity, "cryo-courier", ["custody"], by=boss, expires_days=1)
    assert admin.revoke_token(identity, "cryo-courier", by=boss) == 2
    assert identity.tokens.verify(short) is None
    with pytest.raises(admin.NotAdmin):
        admin.create_token(identity, "x-client", ["read"], by="free text")
    with pytest.raises(ValueError, match="unknown scope"):
        admin.create_token(identity, "x-client", ["everything"], by=boss)
    with pytest.raises(ValueError, match="unknown scope"):
        admin.create_token(identity, "x-client", [], by=boss)
    with pytest.raises(ValueError, match="expires after"):
        admin.create_token(identity, "x-client", ["read"], by=boss, expires_days=0)
    logged = {(e.event, e.actor) for e in identity.security.entries()}
    assert {("token.created", boss), ("token.revoked", boss)} <= logged


def test_demo_users_are_made_once(tmp_path: Path) -> None:
    identity = _identity(tmp_path)
    made = admin.ensure_demo_users(identity)
    assert [u for u, _ in made] == ["qa", "qp", "operator", "engineer", "admin"]
    assert admin.ensure_demo_users(identity) == []
    # Published passwords: nobody signs with one before choosing their own.
    refused = identity.auth.check_signer("qa", "vein2vein-qa", Role.QA) or ""
    assert "qa must first replace the password an administrator set" in refused
    own_password(identity, "qa", "qp")
    assert identity.auth.check_signer("qa", "vein2vein-qa", Role.QA) is None
    assert identity.auth.check_signer("qp", "vein2vein-qp", Role.QUALIFIED_PERSON) is None
    assert [u.user_id for u in admin.list_users(identity)] == sorted(u for u, _ in made)


def test_users_and_tokens_files_are_imported_once(tmp_path: Path) -> None:
    hashed = FAST_HASHER.hash("old-password")
    (tmp_path / "users.json").write_text(
        json.dumps(
            {
                "users": {
                    "old-qa": {"printed_name": "Old QA", "roles": ["qa"], "password_hash": hashed}
                }
            }
        )
    )
    secret_sha = "ab" * 32
    (tmp_path / "tokens.json").write_text(
        json.dumps(
            {
                "tokens": {
                    "0123456789ab": {
                        "client": "old-lims",
                        "scopes": ["results"],
                        "secret_sha256": secret_sha,
                        "created_at": "2025-01-01T00:00:00+00:00",
                    }
                }
            }
        )
    )
    identity = _identity(tmp_path)
    assert not (tmp_path / "users.json").exists() and (tmp_path / "users.json.imported").exists()
    assert (tmp_path / "tokens.json.imported").exists()
    assert identity.auth.check_signer("old-qa", "old-password", Role.QA) is None
    (token,) = admin.list_tokens(identity)
    assert token.client == "old-lims" and token.state == "active"
    again = _identity(tmp_path)
    assert [u.user_id for u in admin.list_users(again)] == ["old-qa"]
    events = [e.event for e in identity.security.entries()]
    assert events.count("users.imported") == 1 and events.count("tokens.imported") == 1


async def test_password_change_and_revocation_end_access(
    client: Client, people: People, service_settings: Settings
) -> None:
    user = people.make(Role.OPERATOR)
    http = await client(user=user)
    assert (await http.get("/api/inbox")).status_code == 200
    admin.set_password(people.identity, user[0], "a-new-password", by=ROOT, hasher=FAST_HASHER)
    assert (await http.get("/api/inbox")).status_code == 401
    token = make_token(service_settings, "revoked-reader", ["read"])
    reader = await client(token=token)
    assert (await reader.get("/api/products")).status_code == 200
    admin.revoke_token(people.identity, token.split("_")[1], by=ROOT)
    assert (await reader.get("/api/products")).status_code == 401


async def test_an_admin_ends_every_session_of_a_user(client: Client, people: People) -> None:
    user = people.make(Role.QA)
    first, second = await client(user=user), await client(user=user)
    boss = await client(user=people.make(Role.ADMIN))
    page = (await boss.get("/console/admin")).text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    r = await boss.post(f"/console/admin/sessions/{user[0]}/revoke", data={"csrf": csrf})
    assert r.status_code == 303
    assert (await first.get("/api/inbox")).status_code == 401
    assert (await second.get("/api/inbox")).status_code == 401
    assert (await boss.get("/api/inbox")).status_code == 200
    r = await boss.post(f"/console/admin/disable/{user[0]}", data={"csrf": csrf})
    assert r.status_code == 303
    fresh = await client()
    assert (await login(fresh, *user)).status_code == 401
    r = await boss.post(
        f"/console/admin/roles/{user[0]}", data={"csrf": csrf, "roles": ["qa", "operator"]}
    )
    assert r.status_code == 303
    assert set(people.identity.users.get(user[0]).roles) == {Role.QA, Role.OPERATOR}  # type: ignore[union-attr]
    qa_http = await client(user=people.make(Role.QA))
    r = await qa_http.post(f"/console/admin/enable/{user[0]}", data={"csrf": csrf})
    assert r.status_code == 403
