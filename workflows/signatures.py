"""Electronic signatures on decisions: the one place that signs and verifies them.

The service (or CLI), after re-authenticating the signer, signs a `DecisionBody` with the
deployment's Ed25519 key. The workflow's update validator verifies it, without any I/O, with the
public keys of the worker's own key registry (`workflows.keyring`), so a decision that did not
pass through the service is rejected. Key files are written readable by their owner only from
the moment they exist.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from temporalio import workflow

from workflows.model import DecisionBody, SignedDecision

with workflow.unsafe.imports_passed_through():
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )


class SignatureError(ValueError):
    """A signed decision failed verification; the message says why."""


class SigningKey:
    """The deployment's Ed25519 signing key with its key id."""

    def __init__(self, private: Ed25519PrivateKey, key_id: str) -> None:
        self._private = private
        self.key_id = key_id

    @classmethod
    def generate(cls, key_id: str | None = None) -> SigningKey:
        """A new random key."""
        return cls(Ed25519PrivateKey.generate(), key_id or f"k-{secrets.token_hex(4)}")

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        """The key stored at `path` (raw hex: key id, newline, private key)."""
        key_id, hex_key = path.read_text().split()
        return cls(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(hex_key)), key_id)

    @classmethod
    def create(cls, path: Path, key_id: str | None = None) -> SigningKey:
        """A new key stored at `path`; `FileExistsError` if a key is already there."""
        key = cls.generate(key_id)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = key._write_temp(path)
        try:
            os.link(tmp, path)  # atomic, complete, and never over another process's key
        finally:
            tmp.unlink()
        return key

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """The key stored at `path`, made if absent."""
        try:
            return cls.create(path)
        except FileExistsError:
            return cls.load(path)

    def save(self, path: Path) -> None:
        """Store this key at `path`, atomically replacing whatever key was there."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self._write_temp(path)
        try:
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _write_temp(self, path: Path) -> Path:
        raw = self._private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{self.key_id}\n{raw.hex()}\n")
        return tmp

    def public_hex(self) -> str:
        """The public key, hex encoded, as the key registry holds it."""
        raw = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return raw.hex()

    def sign(self, body: DecisionBody) -> SignedDecision:
        """Sign `body`; its key id must be this key's."""
        if body.key_id != self.key_id:
            raise SignatureError(f"body names key {body.key_id}, this key is {self.key_id}")
        return SignedDecision(body=body, signature=self._private.sign(body.canonical_bytes()).hex())

    def sign_bytes(self, data: bytes) -> str:
        """The hex signature of `data`, for records other than decisions (ledger checkpoints);
        callers prefix `data` with their own domain so it never reads as a decision."""
        return self._private.sign(data).hex()


def verify(decision: SignedDecision, trusted_keys: dict[str, str]) -> None:
    """Raise `SignatureError` unless `decision` is signed by one of `trusted_keys`."""
    public_hex = trusted_keys.get(decision.body.key_id)
    if public_hex is None:
        raise SignatureError(f"signature key {decision.body.key_id!r} is not trusted")
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        public.verify(bytes.fromhex(decision.signature), decision.body.canonical_bytes())
    except (InvalidSignature, ValueError) as err:
        raise SignatureError("signature does not match the decision it claims to sign") from err
