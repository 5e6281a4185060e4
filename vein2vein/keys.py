"""The deployment's key registry file and signing key: which keys sign, which keys are trusted.

The registry (`Settings.trusted_keys_file`, JSON) lists the public keys whose signed decisions
the workers accept, each with its id, the instant it became valid and, once revoked, the instant
from which its signatures are refused. It belongs to the deployment's configuration: a worker
loads it, installs it in `workflows.keyring` before it polls, and reloads it when the file
changes (`RegistryWatcher`). Nothing a caller puts in a batch's start input is ever trusted.

The service and the CLI sign with the private key in `Settings.signing_key_file`; on first run
that key is made and its public part registered, so a fresh data directory works out of the box.
Every file here is written readable by its owner only from the moment it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vein2vein.settings import Settings
from workflows import keyring
from workflows.keyring import KeyRegistry, TrustedKey
from workflows.signatures import SigningKey

log = logging.getLogger("vein2vein.keys")


class RegistryError(ValueError):
    """The registry file is unreadable, or a change to it is not allowed; the message says why."""


class RegistryFile(BaseModel):
    """The registry file's content: a format version and the keys, each id once."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    keys: list[TrustedKey] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RegistryFile:
        ids = [k.key_id for k in self.keys]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"key ids listed more than once: {', '.join(twice)}")
        return self


def load_registry(path: Path) -> KeyRegistry:
    """The registry stored at `path`; empty (trusting nothing) when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return KeyRegistry()
    try:
        content = RegistryFile.model_validate(json.loads(text))
    except (ValueError, ValidationError) as err:
        raise RegistryError(f"{path}: not a valid key registry: {err}") from err
    return KeyRegistry(keys={k.key_id: k for k in content.keys})


def save_registry(path: Path, registry: KeyRegistry) -> None:
    """Replace the registry at `path` atomically with `registry` (mode 0600 from creation)."""
    content = RegistryFile(keys=sorted(registry.keys.values(), key=lambda k: k.key_id))
    _write_private(path, content.model_dump_json(indent=2) + "\n")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside `path` (one writer at a time across processes)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_registry(path: Path, change: Callable[[KeyRegistry], KeyRegistry]) -> KeyRegistry:
    """Apply `change` to the registry at `path` under a lock and save the result."""
    with _locked(path):
        registry = change(load_registry(path))
        save_registry(path, registry)
        return registry


def with_key(
    registry: KeyRegistry, key_id: str, public_hex: str, *, valid_from: datetime | None
) -> KeyRegistry:
    """`registry` plus a new trusted key; refuses an id that is already registered."""
    if key_id in registry.keys:
        raise RegistryError(f"key {key_id} is already registered")
    try:
        key = TrustedKey(key_id=key_id, public_hex=public_hex.lower(), valid_from=valid_from)
    except ValidationError as err:
        raise RegistryError(f"invalid key {key_id}: {err.errors()[0]['msg']}") from err
    return KeyRegistry(keys={**registry.keys, key_id: key})


def with_revocation(registry: KeyRegistry, key_id: str, at: datetime) -> KeyRegistry:
    """`registry` with `key_id` revoked from `at` (an earlier existing revocation stands)."""
    key = registry.keys.get(key_id)
    if key is None:
        known = ", ".join(sorted(registry.keys)) or "none"
        raise RegistryError(f"unknown key {key_id}; registered: {known}")
    if key.revoked_at is not None and key.revoked_at <= at:
        raise RegistryError(f"key {key_id} is already revoked from {key.revoked_at.isoformat()}")
    revoked = key.model_copy(update={"revoked_at": at})
    return KeyRegistry(keys={**registry.keys, key_id: revoked})


def register_key(settings: Settings, key: SigningKey) -> None:
    """Trust `key`'s public part from now on (nothing changes if its id is registered)."""

    def add(registry: KeyRegistry) -> KeyRegistry:
        if key.key_id in registry.keys:
            return registry
        return with_key(registry, key.key_id, key.public_hex(), valid_from=datetime.now(UTC))

    update_registry(settings.trusted_keys_file, add)
    log.info("signing key registered", extra={"key_id": key.key_id})


def deployment_signing_key(settings: Settings) -> SigningKey:
    """The key the service and CLI sign with. Made on first use; a key made here, or any key
    while no registry file exists yet, is registered as trusted (never re-adding one that an
    operator removed, never lifting a revocation)."""
    path = settings.signing_key_file
    try:
        key, created = SigningKey.create(path), True
    except FileExistsError:
        key, created = SigningKey.load(path), False
    if created or not settings.trusted_keys_file.exists():
        register_key(settings, key)
    return key


def current_signing_key_id(settings: Settings) -> str | None:
    """The id of the key that signs now, without making one; None when there is none."""
    try:
        return SigningKey.load(settings.signing_key_file).key_id
    except FileNotFoundError:
        return None


def rotate(settings: Settings) -> SigningKey:
    """Make a new signing key the one that signs; the old one stays trusted for verification.

    The new public key is registered before the new private key is stored, so no decision is
    ever signed with a key the registry does not know."""
    new = SigningKey.generate()
    register_key(settings, new)
    new.save(settings.signing_key_file)
    return new


def bootstrap(settings: Settings) -> None:
    """For a worker on a fresh data directory: with no registry file yet, make (or load) the
    signing key and register it, so `vein2vein dev` and `worker` work out of the box.

    An existing registry is never changed here, and neither is one named explicitly
    (`VEIN2VEIN_TRUSTED_KEYS`): that one is the operators' (or the service's) to write."""
    if settings.trusted_keys_path is None and not settings.trusted_keys_file.exists():
        deployment_signing_key(settings)


def install(registry: KeyRegistry, source: Path) -> None:
    """Install `registry` for this process's workflows; warn loudly when it trusts nothing."""
    keyring.install(registry)
    if not registry.keys:
        log.warning(
            "no trusted signing keys: every signed decision will be refused",
            extra={"registry": str(source)},
        )
    else:
        log.info(
            "trusted signing keys", extra={"registry": str(source), "keys": sorted(registry.keys)}
        )


class RegistryWatcher:
    """Loads the registry file into `workflows.keyring`, and again whenever the file changes.

    Only this host-side task touches the file; workflow code reads the installed registry."""

    def __init__(self, path: Path, *, interval: float = 2.0) -> None:
        self.path = path
        self.interval = interval
        self._seen: tuple[int, int, int] | None = None

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def load(self) -> KeyRegistry:
        """Load and install the registry now; raises `RegistryError` if the file is invalid."""
        stamp = self._stamp()
        registry = load_registry(self.path)
        install(registry, self.path)
        self._seen = stamp
        return registry

    def check(self) -> bool:
        """Reload if the file changed since the last load; True when it did. An invalid file
        is logged and the registry in force is kept."""
        if self._stamp() == self._seen:
            return False
        try:
            self.load()
        except (RegistryError, OSError) as err:
            log.error("key registry not reloaded, the previous one stays: %s", err)
            self._seen = self._stamp()
            return False
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Check the file every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
            if not stop.is_set():
                await asyncio.to_thread(self.check)
