"""Chain-of-identity identifiers: a pluggable issuer and ISO 7064 MOD 37-2 check characters.

ISBT 128 (ST-028) defines a COI identifier, but its tables are licensed, so the format is an
interface: `CoiIssuer`. The default issuer makes `V2V` + 12 base-36 characters + one check
character, derived from the allocation's idempotency key so a retried allocation returns the
same identifier. Every scan is validated with `is_valid_coi` before it is compared.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
_BASE36 = _ALPHABET[:36]


def mod37_2_check(body: str) -> str:
    """The ISO 7064 MOD 37-2 check character of `body` (digits and upper-case letters)."""
    p = 0
    for ch in body:
        v = _ALPHABET.index(ch)
        if v >= 36:
            raise ValueError(f"invalid character {ch!r} in identifier body")
        p = ((p + v) * 2) % 37
    return _ALPHABET[(38 - p) % 37]


def is_valid_coi(value: str) -> bool:
    """True when `value` is well formed and its last character is the right check character."""
    if len(value) < 2 or any(ch not in _ALPHABET for ch in value[:-1]) or "*" in value[:-1]:
        return False
    return mod37_2_check(value[:-1]) == value[-1]


class CoiIssuer(Protocol):
    """Allocates COI identifiers; a site may plug in an ISBT 128 issuer instead."""

    def allocate(self, idempotency_key: str) -> str:
        """A COI for this allocation; the same key always yields the same COI."""
        ...


class DefaultCoiIssuer:
    """`PREFIX` + 12 base-36 characters derived from the key + ISO 7064 check character."""

    def __init__(self, prefix: str = "V2V", namespace: str = "vein2vein") -> None:
        self.prefix = prefix
        self.namespace = namespace

    def allocate(self, idempotency_key: str) -> str:
        """Derive the identifier from the key so a retried allocation is idempotent."""
        digest = int.from_bytes(
            hashlib.sha256(f"{self.namespace}:{idempotency_key}".encode()).digest(), "big"
        )
        chars = []
        for _ in range(12):
            digest, r = divmod(digest, 36)
            chars.append(_BASE36[r])
        body = self.prefix + "".join(chars)
        return body + mod37_2_check(body)
