"""Small configuration files in the data directory: atomic JSON writes and the service secret."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

USERS_FILE = "users.json"
TOKENS_FILE = "tokens.json"
SECRET_FILE = "service.secret"


def read_json(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    """The JSON object in `path`, or `default` when the file does not exist."""
    if not path.exists():
        return default
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` atomically with `data`, readable by its owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def service_secret(data_dir: Path) -> bytes:
    """The key that signs session cookies and form tokens; made on first use."""
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())
