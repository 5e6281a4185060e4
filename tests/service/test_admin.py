"""Users, passwords and tokens as the CLI manages them, and what the files keep."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.service.support import FAST_HASHER, Client, People
from vein2vein.service import admin
from vein2vein.service.tokens import TokenStore
from vein2vein.service.users import UserStore
from vein2vein.settings import Settings
from workflows.model import Role


def _store(tmp_path: Path) -> UserStore:
    return UserStore(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")


def test_users_file_keeps_argon2_hashes_only(tmp_path: Path) -> None:
    admin.add_user(tmp_path, "qa-ada", "Ada Quality", ["qa"], "correct horse", hasher=FAST_HASHER)
    path = tmp_path / "users.json"
    text = path.read_text()
    assert "correct horse" not in text
    assert json.loads(text)["users"]["qa-ada"]["password_hash"].startswith("$argon2id$")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="already exists"):
        admin.add_user(tmp_path, "qa-ada", "Ada", ["qa"], "another pass")
    with pytest.raises(ValueError, match="at least 8"):
        admin.add_user(tmp_path, "qa-bob", "Bob", ["qa"], "short")
    with pytest.raises(ValueError, match="roles"):
        admin.add_user(tmp_path, "qa-bob", "Bob", ["auditor"], "long enough")
    with pytest.raises(ValueError, match="invalid user id"):
        admin.add_user(tmp_path, "Bob Smith", "Bob", ["qa"], "long enough")
    with pytest.raises(ValueError, match="printed name"):
        admin.add_user(tmp_path, "qa-bob", " ", ["qa"], "long enough")


def test_check_signer_is_the_cli_path_with_the_same_lockout(tmp_path: Path) -> None:
    admin.add_user(tmp_path, "qp-q", "Q Person", ["qualified_person"], "pass-word-1")
    store = _store(tmp_path)
    assert store.check_signer("qp-q", "pass-word-1", Role.QUALIFIED_PERSON) is None
    assert "does not hold the role qa" in (store.check_signer("qp-q", "pass-word-1", Role.QA) or "")
    for _ in range(2):
        assert "wrong password" in (store.check_signer("qp-q", "nope", Role.QA) or "")
    assert "now locked" in (store.check_signer("qp-q", "nope", Role.QA) or "")
    locked = store.check_signer("qp-q", "pass-word-1", Role.QUALIFIED_PERSON) or ""
    assert "locked" in locked
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert admin.unlock_user(tmp_path, "qp-q", by="admin", db_url=db) is True
    assert admin.unlock_user(tmp_path, "qp-q", by="admin", db_url=db) is False
    assert store.check_signer("qp-q", "pass-word-1", Role.QUALIFIED_PERSON) is None
    with pytest.raises(KeyError):
        admin.unlock_user(tmp_path, "nobody", by="admin", db_url=db)


def test_tokens_are_shown_once_and_stored_hashed(tmp_path: Path) -> None:
    token = admin.create_token(tmp_path, "cryo-courier", ["custody"])
    assert token.startswith("v2v_")
    assert token.split("_", 2)[2] not in (tmp_path / "tokens.json").read_text()
    store = TokenStore(tmp_path)
    found = store.verify(token)
    assert found is not None and found.client == "cryo-courier" and found.scopes == ("custody",)
    assert store.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert admin.revoke_token(tmp_path, "cryo-courier") == 1
    assert TokenStore(tmp_path).verify(token) is None
    assert [t.client for t in admin.list_tokens(tmp_path)] == ["cryo-courier"]
    with pytest.raises(ValueError, match="unknown scope"):
        admin.create_token(tmp_path, "x-client", ["everything"])
    with pytest.raises(ValueError, match="unknown scope"):
        admin.create_token(tmp_path, "x-client", [])


def test_demo_users_are_made_once(tmp_path: Path) -> None:
    made = admin.ensure_demo_users(tmp_path)
    assert [u for u, _ in made] == ["qa", "qp", "operator", "engineer", "admin"]
    assert admin.ensure_demo_users(tmp_path) == []
    store = _store(tmp_path)
    assert store.check_signer("qa", "vein2vein-qa", Role.QA) is None
    assert store.check_signer("qp", "vein2vein-qp", Role.QUALIFIED_PERSON) is None
    assert [u.user_id for u in admin.list_users(tmp_path)] == sorted(u for u, _ in made)


async def test_password_change_and_revocation_end_access(
    client: Client, people: People, service_settings: Settings
) -> None:
    user = people.make(Role.OPERATOR)
    http = await client(user=user)
    assert (await http.get("/api/inbox")).status_code == 200
    admin.set_password(service_settings.data_dir, user[0], "a-new-password", hasher=FAST_HASHER)
    assert (await http.get("/api/inbox")).status_code == 401
    token = admin.create_token(service_settings.data_dir, "revoked-reader", ["read"])
    reader = await client(token=token)
    assert (await reader.get("/api/products")).status_code == 200
    admin.revoke_token(service_settings.data_dir, token.split("_")[1])
    assert (await reader.get("/api/products")).status_code == 401
