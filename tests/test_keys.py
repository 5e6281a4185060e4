"""The key registry file and signing key on disk, the worker's reloading, `vein2vein keys`."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from vein2vein import keys
from vein2vein.cli import app
from vein2vein.settings import Settings
from workflows import keyring
from workflows.keyring import KeyRegistry
from workflows.signatures import SigningKey

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_installed_registry() -> Iterator[None]:
    previous = keyring.installed()
    yield
    keyring.install(previous)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Umask 0: a file is owner-only here only because it was created so."""
    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_registry_round_trip_owner_only(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "conf" / "trusted_keys.json"
    a, b = SigningKey.generate("k-a"), SigningKey.generate("k-b")
    at = datetime(2030, 5, 1, 12, tzinfo=UTC)
    registry = keys.with_key(KeyRegistry(), a.key_id, a.public_hex(), valid_from=at)
    registry = keys.with_key(registry, b.key_id, b.public_hex().upper(), valid_from=None)
    registry = keys.with_revocation(registry, a.key_id, at.replace(hour=13))
    keys.save_registry(path, registry)
    assert keys.load_registry(path) == registry
    assert _mode(path) == 0o600
    assert [k["key_id"] for k in json.loads(path.read_text())["keys"]] == ["k-a", "k-b"]
    assert keys.load_registry(tmp_path / "absent.json") == KeyRegistry()


def test_signing_key_file_owner_only_and_never_overwritten(
    tmp_path: Path, open_umask: None
) -> None:
    path = tmp_path / "signing.key"
    made = SigningKey.create(path)
    assert _mode(path) == 0o600
    with pytest.raises(FileExistsError):
        SigningKey.create(path)
    assert SigningKey.load_or_create(path).public_hex() == made.public_hex()
    assert [p.name for p in tmp_path.iterdir()] == ["signing.key"], "no temporary file left"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not a valid key registry"),
        ('{"keys": [{"key_id": "k", "public_hex": "zz"}]}', "public_hex"),
        ('{"keys": [], "extra": 1}', "extra"),
        (
            json.dumps({"keys": [{"key_id": "k", "public_hex": "0" * 64}] * 2}),
            "listed more than once: k",
        ),
    ],
)
def test_invalid_registry_is_refused_naming_the_file(
    tmp_path: Path, content: str, needle: str
) -> None:
    path = tmp_path / "trusted_keys.json"
    path.write_text(content)
    with pytest.raises(keys.RegistryError, match=str(path)) as info:
        keys.load_registry(path)
    assert needle in str(info.value)


def test_first_run_registers_the_new_signing_key_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    key = keys.deployment_signing_key(settings)
    registry = keys.load_registry(settings.trusted_keys_file)
    assert list(registry.keys) == [key.key_id]
    assert registry.keys[key.key_id].public_hex == key.public_hex()
    # An operator removes it: using the existing key again does not re-add it.
    keys.save_registry(settings.trusted_keys_file, KeyRegistry())
    assert keys.deployment_signing_key(settings).key_id == key.key_id
    assert keys.load_registry(settings.trusted_keys_file) == KeyRegistry()


def test_worker_bootstraps_only_its_default_registry(tmp_path: Path) -> None:
    explicit = Settings(data_dir=tmp_path / "a", trusted_keys_path=tmp_path / "shared.json")
    keys.bootstrap(explicit)
    assert not explicit.trusted_keys_file.exists() and not explicit.signing_key_file.exists()
    default = Settings(data_dir=tmp_path / "b")
    keys.bootstrap(default)
    assert len(keys.load_registry(default.trusted_keys_file).keys) == 1
    assert Settings.from_env({"VEIN2VEIN_TRUSTED_KEYS": "/etc/v/k.json"}).trusted_keys_file == (
        Path("/etc/v/k.json")
    )


def test_watcher_reloads_changes_and_keeps_the_last_good_registry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "trusted_keys.json"
    watcher = keys.RegistryWatcher(path)
    with caplog.at_level(logging.WARNING, logger="vein2vein.keys"):
        assert watcher.load() == KeyRegistry()
    assert "every signed decision will be refused" in caplog.text
    assert keyring.installed() == KeyRegistry()
    assert not watcher.check(), "nothing changed"
    key = SigningKey.generate("k-reload")
    keys.update_registry(
        path, lambda r: keys.with_key(r, key.key_id, key.public_hex(), valid_from=None)
    )
    assert watcher.check()
    good = keyring.installed()
    assert list(good.keys) == ["k-reload"]
    path.write_text("{broken")
    with caplog.at_level(logging.ERROR, logger="vein2vein.keys"):
        assert not watcher.check()
    assert "previous one stays" in caplog.text
    assert keyring.installed() == good


# -- the command line ----------------------------------------------------------------------


def _keys(tmp_path: Path, *args: str) -> Result:
    env = {"VEIN2VEIN_DATA_DIR": str(tmp_path), "VEIN2VEIN_TRUSTED_KEYS": "", "COLUMNS": "200"}
    return runner.invoke(app, ["keys", *args], env=env)


def test_keys_list_rotate_revoke_add(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    empty = _keys(tmp_path, "list")
    assert empty.exit_code == 0 and "no trusted keys" in empty.output
    first = keys.deployment_signing_key(settings)

    rotated = _keys(tmp_path, "rotate")
    assert rotated.exit_code == 0, rotated.output
    new = keys.deployment_signing_key(settings)
    assert new.key_id != first.key_id
    assert f"{new.key_id} now signs" in rotated.output and f"{first.key_id} stays" in rotated.output

    revoked = _keys(tmp_path, "revoke", first.key_id, "--at", "2031-02-03T04:05:06+00:00")
    assert revoked.exit_code == 0, revoked.output
    assert "revoked from 2031-02-03T04:05:06Z" in revoked.output
    other = SigningKey.generate("k-replica-2")
    added = _keys(tmp_path, "add", other.key_id, other.public_hex())
    assert added.exit_code == 0, added.output
    _keys(tmp_path, "revoke", other.key_id)

    listed = _keys(tmp_path, "list").output
    rows = {line.split()[1]: line for line in listed.splitlines() if " k-" in line}
    assert set(rows) == {first.key_id, new.key_id, other.key_id}
    assert "2031-02-03T04:05:06Z" in rows[first.key_id]
    assert "trusted until revocation" in rows[first.key_id]
    assert "trusted" in rows[new.key_id] and "yes" in rows[new.key_id]
    assert "revoked" in rows[other.key_id] and "yes" not in rows[other.key_id]
    registry = keys.load_registry(settings.trusted_keys_file)
    assert registry.keys[new.key_id].revoked_at is None
    assert _mode(settings.trusted_keys_file) == 0o600


def test_keys_bad_input_changes_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    key = keys.deployment_signing_key(settings)
    before = settings.trusted_keys_file.read_bytes()
    for args, needle in [
        (["revoke", "k-nobody"], f"unknown key k-nobody; registered: {key.key_id}"),
        (["revoke", key.key_id, "--at", "yesterday"], "--at 'yesterday' is not an ISO 8601"),
        (["add", key.key_id, key.public_hex()], f"key {key.key_id} is already registered"),
        (["add", "k-new", "abc"], "invalid key k-new"),
    ]:
        result = _keys(tmp_path, *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith(f"error: {needle}"), (args, result.output)
    assert settings.trusted_keys_file.read_bytes() == before
