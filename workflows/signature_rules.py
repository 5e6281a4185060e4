"""The rules a signature itself must keep on a batch, whatever it decides: made by a trusted
key, for this batch, once, recently, over the current version of the record.

Pure, like `workflows.authority`, which applies them before the rules of what is decided.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Protocol

from workflows.model import BatchRecord, SignedDecision


class Verifier(Protocol):
    """What checks a signature: `workflows.keyring.KeyRegistry` in a deployment."""

    def verify(self, decision: SignedDecision) -> None:
        """Raise `SignatureError` unless a trusted key made `decision`."""


def signature_refusal(
    decision: SignedDecision,
    *,
    record: BatchRecord,
    keys: Verifier,
    used_signatures: Collection[str],
    now: datetime,
    max_age: timedelta,
) -> str | None:
    """Why the signature itself is not acceptable on this batch now, or None: it must be made
    by a trusted key, for this batch, not used before, at most `max_age` from `now` (either
    way), over the current version of the record."""
    body = decision.body
    try:
        keys.verify(decision)
    except ValueError as err:
        # SignatureError is a ValueError; caught as such because, in the workflow sandbox, the
        # key registry (passed through) raises the host's class, not the sandbox's copy.
        return str(err)
    if body.batch_id != record.batch_id:
        return f"signature is for batch {body.batch_id}, not {record.batch_id}"
    if body.signature_id in used_signatures:
        return "signature already used"
    age = abs(now - body.signed_at)
    if age > max_age:
        return f"signature expired: made {age} ago"
    if body.record_hash != record.content_hash():
        return "signature is for another version of the record; review the current one"
    return None
