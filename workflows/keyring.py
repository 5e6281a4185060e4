"""The deployment's trusted signing keys: the only keys whose signed decisions a batch accepts.

The worker loads a `KeyRegistry` from its own configuration and `install`s it in this module
before it polls; the workflow's decision validator asks `installed()` to verify a decision.
Nothing a caller puts in a batch's start input can add a key. The module is passed through the
workflow sandbox, so every workflow on the worker sees the registry the worker installed.
Validators do not run on replay, so a key rotated or revoked later never changes a recorded
history: the key id that verified a decision is kept on its signature in the record.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from workflows.model import SignedDecision
from workflows.signatures import SignatureError, verify


class TrustedKey(BaseModel):
    """One public key the deployment trusts, and the period its signatures are valid in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str = Field(min_length=1, max_length=80)
    public_hex: str = Field(pattern=r"^[0-9a-f]{64}$")
    valid_from: datetime | None = None
    revoked_at: datetime | None = Field(
        default=None, description="Signatures made at or after this instant are refused"
    )

    def valid_at(self, at: datetime) -> bool:
        """True when a signature made at `at` may have been made with this key."""
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.revoked_at is None or at < self.revoked_at


class KeyRegistry(BaseModel):
    """The trusted keys by id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: dict[str, TrustedKey] = Field(default_factory=dict)

    def verify(self, decision: SignedDecision) -> None:
        """Raise `SignatureError` unless a trusted key, valid when it signed, made `decision`."""
        body = decision.body
        key = self.keys.get(body.key_id)
        if key is None:
            raise SignatureError(f"signature key {body.key_id!r} is not trusted by this deployment")
        if not key.valid_at(body.signed_at):
            raise SignatureError(f"signature key {body.key_id!r} was not valid when it signed")
        verify(decision, {key.key_id: key.public_hex})


_installed = KeyRegistry()


def install(registry: KeyRegistry) -> None:
    """Make `registry` the one every workflow on this worker verifies decisions with."""
    global _installed
    _installed = registry


def installed() -> KeyRegistry:
    """The registry the worker installed (empty, trusting nothing, until it does)."""
    return _installed
