"""Encrypted payloads: body weight, treatment-window dates and results never sit in Temporal's
history (or its Web UI) in plain text.

`EncryptionCodec` is a Temporal `PayloadCodec`: each payload is serialised and sealed with
AES-256-GCM under the active key; the key id travels in the payload's metadata (and is bound
into the ciphertext as associated data), so keys can rotate while older histories still
decode with the key that sealed them. A payload without this codec's encoding (everything
written before encryption was switched on, and the committed replay histories) passes through
decoding unchanged.

Search attributes, memo and workflow IDs are not payloads a codec sees: never put patient data
there (README, TEMPORAL.md).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

__all__ = ["ENCODING", "KEY_ID_HEADER", "EncryptionCodec", "UnknownPayloadKey", "data_converter"]

#: The metadata encoding of a sealed payload.
ENCODING = b"binary/encrypted"
#: The metadata entry naming the key that sealed the payload.
KEY_ID_HEADER = "encryption-key-id"
_NONCE_BYTES = 12


class UnknownPayloadKey(KeyError):
    """A payload sealed with a key this process does not hold (rotated out, or another
    deployment's)."""


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM payload codec with key ids; seals with `active`, opens with any key held."""

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError(f"the active payload key {active!r} is not among the keys")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"payload key {key_id!r} must be 32 bytes (AES-256)")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active

    @property
    def active_key_id(self) -> str:
        """The id of the key new payloads are sealed with."""
        return self._active

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Seal each payload with the active key."""
        return [self._seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Open each sealed payload; pass any other through unchanged."""
        return [self._open(p) if p.metadata.get("encoding") == ENCODING else p for p in payloads]

    def _seal(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE_BYTES)
        key_id = self._active.encode()
        sealed = self._ciphers[self._active].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID_HEADER: key_id}, data=nonce + sealed)

    def _open(self, payload: Payload) -> Payload:
        key_id = payload.metadata.get(KEY_ID_HEADER, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownPayloadKey(f"no payload key {key_id!r} is held here")
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        opened = Payload()
        opened.ParseFromString(cipher.decrypt(nonce, sealed, key_id.encode()))
        return opened


def data_converter(codec: PayloadCodec | None = None) -> DataConverter:
    """The pydantic data converter every part of vein2vein uses, with `codec` (None: payloads
    in plain form, as before encryption). Client, worker and replayer must use the same."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)
