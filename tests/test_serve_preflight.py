"""Demo users only with `dev --demo`; `serve` off loopback refuses a deployment that is not
its own yet: a demo password left, no signing key, a data directory others can read."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.support import FAST_HASHER
from vein2vein.cli import run_command
from vein2vein.demo import user_lines
from vein2vein.keys import deployment_signing_key
from vein2vein.preflight import is_loopback, off_loopback_problems, off_loopback_warnings
from vein2vein.service import admin
from vein2vein.service.identity import Identity
from vein2vein.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh private data directory that the command line uses."""
    path = tmp_path / "data"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("VEIN2VEIN_DATA_DIR", str(path))
    monkeypatch.delenv("VEIN2VEIN_LEDGER_URL", raising=False)
    monkeypatch.delenv("VEIN2VEIN_TRUSTED_KEYS", raising=False)
    previous = os.umask(0o077)
    yield path
    os.umask(previous)


def _serve(host: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run_command(["serve", "--host", host, "--port", "1"])
    return code, capsys.readouterr().err


def test_dev_makes_demo_users_only_with_demo(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    identity = Identity.open(settings.ledger, data_dir)
    plain = user_lines(settings, demo=False)
    assert admin.list_users(identity) == []
    assert "no users yet: add one with `vein2vein users add USER" in plain[0]
    made = user_lines(settings, demo=True)
    assert "demo user qa        password vein2vein-qa" in made[0]
    assert len(admin.list_users(identity)) == 5


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("service.example", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_off_loopback_refuses_demo_passwords(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=data_dir)
    deployment_signing_key(settings)
    identity = Identity.open(settings.ledger, data_dir)
    admin.ensure_demo_users(identity)
    code, err = _serve("0.0.0.0", capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: refusing to serve on 0.0.0.0: ")
    assert "user(s) admin, engineer, operator, qa, qp still have the published demo" in err
    for user_id in ("qa", "qp", "operator", "engineer"):
        admin.set_password(
            identity, user_id, f"{user_id}-own-secret", by="admin", hasher=FAST_HASHER
        )
    assert off_loopback_problems(settings) == [
        "user(s) admin still have the published demo password (`vein2vein users passwd USER`)"
    ]
    # Passwords an admin set are no refusal, only a warning: they must change at first sign-in.
    (warning,) = off_loopback_warnings(settings)
    assert warning.startswith("user(s) engineer, operator, qa, qp still have a password an admin")
    admin.set_password(identity, "admin", "admin-own-secret", by="admin", hasher=FAST_HASHER)
    assert off_loopback_problems(settings) == []


def test_serve_off_loopback_refuses_without_a_signing_key(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _serve("0.0.0.0", capsys)
    assert code == 1 and "no signing key of this deployment's own" in err
    assert "vein2vein keys rotate" in err
    assert not (data_dir / "signing.key").exists()  # serve made none on the spot
    assert run_command(["keys", "rotate"]) == 0
    assert off_loopback_problems(Settings(data_dir=data_dir)) == []


def test_serve_off_loopback_refuses_files_others_can_read(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=data_dir)
    deployment_signing_key(settings)
    settings.signing_key_file.chmod(0o644)
    data_dir.chmod(0o755)
    code, err = _serve("0.0.0.0", capsys)
    assert code == 1
    assert f"{data_dir} is 0755" in err and f"{settings.signing_key_file} is 0644" in err
    data_dir.chmod(0o700)
    settings.signing_key_file.chmod(0o600)
    assert off_loopback_problems(settings) == []
