"""A fresh data directory made through the real code paths is its owner's alone: the
directory 0700 and every file in it 0600, under the common umask 022 (`vein2vein.private`)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities import SimulatedWorld
from records import Ledger
from records.checkpoints import append_to_journal, sign_checkpoint
from tests.service.support import FAST_HASHER, free_port
from vein2vein.embedded import start_dev_server
from vein2vein.keys import deployment_signing_key
from vein2vein.private import exposed, open_private_log
from vein2vein.service import admin
from vein2vein.service.app import create_app
from vein2vein.service.identity import Identity
from vein2vein.settings import Settings


@pytest.fixture
def common_umask() -> Iterator[None]:
    """The umask most accounts have: files 0644 and directories 0755 unless told otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _modes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root.parent)): f"{stat.S_IMODE(p.stat().st_mode):04o}"
        for p in [root, *sorted(root.rglob("*"))]
    }


def test_every_file_of_a_fresh_data_directory_is_private(
    tmp_path: Path, common_umask: None
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    key = deployment_signing_key(settings)  # signing.key, trusted_keys.json
    ledger = Ledger.from_url(settings.ledger)  # ledger.db (and its WAL files)
    ledger.create_schema()
    identity = Identity.open(settings.ledger, settings.data_dir)  # users and tokens tables
    admin.add_user(
        identity, "ada", "A D", ["admin"], "a-long-password", by=admin.BOOTSTRAP, hasher=FAST_HASHER
    )
    admin.create_token(identity, "courier", ["custody"], by="ada")
    create_app(settings, catalog={})  # service.secret, the service's tables
    checkpoint = sign_checkpoint(key, "B-0123456789", 1, "0" * 64, datetime.now(UTC))
    append_to_journal(settings.checkpoint_journal_file, [checkpoint])
    SimulatedWorld(seed=1, store=settings.data_dir / "simulated.db")
    open_private_log(settings.data_dir / "dev.log").close()

    modes = _modes(settings.data_dir)
    expected = {
        "data",
        "data/signing.key",
        "data/trusted_keys.json",
        "data/ledger.db",
        "data/service.secret",
        "data/ledger-checkpoints.jsonl",
        "data/simulated.db",
        "data/dev.log",
    }
    assert expected <= set(modes), sorted(modes)
    assert modes.pop("data") == "0700"
    assert {name: mode for name, mode in modes.items() if mode != "0600"} == {}
    assert exposed([settings.data_dir, *settings.data_dir.iterdir()]) == []


def test_the_embedded_temporal_server_keeps_its_database_private(
    tmp_path: Path, common_umask: None
) -> None:
    data_dir = tmp_path / "data"
    proc = start_dev_server(data_dir, port=free_port(), ui=False)
    try:
        modes = _modes(data_dir)
    finally:
        proc.terminate()
        proc.wait(10)
    assert modes["data"] == "0700"
    assert modes["data/temporal.db"] == "0600"
    assert modes["data/temporal.log"] == "0600"


def test_exposed_names_what_others_can_read(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.write_text("x")
    loose.chmod(0o644)
    tight = tmp_path / "tight"
    tight.write_text("x")
    tight.chmod(0o600)
    assert exposed([loose, tight, tmp_path / "missing"]) == [f"{loose} is 0644"]
