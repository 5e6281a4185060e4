"""The deployment's payload keys: which `EncryptionCodec` (if any) the worker, service and CLI
put on their Temporal client.

`VEIN2VEIN_PAYLOAD_KEY` chooses:

- unset or `off`: no codec, payloads in plain form (the behaviour before encryption);
- `file`: the key file `payload_keys.json` in the data directory, created with a fresh key and
  mode 0600 when missing;
- a path: that key file (created the same way when missing);
- 64 hex characters: that one key (id `env-` + the first 8 hex of its SHA-256).

A key file holds every key still needed to read older histories and the id of the one that
seals new payloads: `{"active": "pk-...", "keys": {"pk-...": "<64 hex>"}}`. `rotate` adds a
key and makes it active; the old ones stay, so histories they sealed still decode.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vein2vein.private import private_dir
from vein2vein.settings import Settings
from workflows.codec import EncryptionCodec

__all__ = ["KEY_FILE_NAME", "PayloadKeys", "codec_for", "rotate"]

#: The key file's name in the data directory (`VEIN2VEIN_PAYLOAD_KEY=file`).
KEY_FILE_NAME = "payload_keys.json"
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


class PayloadKeys(BaseModel):
    """The contents of a payload key file."""

    model_config = ConfigDict(extra="forbid")

    active: str = Field(min_length=1, max_length=64)
    keys: dict[str, str] = Field(min_length=1)

    def codec(self) -> EncryptionCodec:
        """The codec sealing with the active key and opening with any key held."""
        return EncryptionCodec({k: bytes.fromhex(v) for k, v in self.keys.items()}, self.active)


def codec_for(settings: Settings) -> EncryptionCodec | None:
    """The codec `settings` configure, or None when payload encryption is off."""
    choice = (settings.payload_key or "").strip()
    if choice.lower() in ("", "off"):
        return None
    if _HEX_KEY.fullmatch(choice):
        key_id = "env-" + hashlib.sha256(bytes.fromhex(choice)).hexdigest()[:8]
        return EncryptionCodec({key_id: bytes.fromhex(choice)}, key_id)
    path = settings.data_dir / KEY_FILE_NAME if choice.lower() == "file" else Path(choice)
    return _load_or_create(path).codec()


def rotate(path: Path) -> str:
    """Add a fresh key to the key file at `path` and make it the active one; returns its id.
    Restart the worker, service and CLI clients to seal with it."""
    keys = _load_or_create(path)
    key_id = _new_id()
    updated = PayloadKeys(active=key_id, keys={**keys.keys, key_id: secrets.token_hex(32)})
    _write(path, updated)
    return key_id


def _load_or_create(path: Path) -> PayloadKeys:
    if not path.exists():
        key_id = _new_id()
        _write(path, PayloadKeys(active=key_id, keys={key_id: secrets.token_hex(32)}))
    return PayloadKeys.model_validate_json(path.read_text())


def _write(path: Path, keys: PayloadKeys) -> None:
    # Written beside the target with mode 0600 from the start, then renamed over it: the key
    # is never readable by others, not even for a moment, and never half written.
    private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(keys.model_dump(), indent=2) + "\n")
    os.replace(tmp, path)


def _new_id() -> str:
    return f"pk-{secrets.token_hex(4)}"
