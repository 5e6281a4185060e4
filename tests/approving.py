"""Approving definition versions for tests that start batches the way people do (API, CLI):
every start there is refused for a version QA has not approved (`records.approvals`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from records import Ledger
from records.approvals import Approvals
from vein2vein.approvals import approval_signature
from workflows.definition import CompiledDefinition
from workflows.model import DecisionAction, Role
from workflows.record import Signature
from workflows.signatures import SigningKey

#: When the tests' approvals were signed and took effect (before any test's clock).
SINCE = datetime(2020, 1, 1, tzinfo=UTC)


def approver_signature(
    key: SigningKey, d: CompiledDefinition, reason: str = "approved for the test session"
) -> Signature:
    """The tests' QA approver's signature approving `d`, signed at `SINCE`."""
    return approval_signature(
        key,
        product=d.product,
        version=d.version,
        content_hash=d.content_hash,
        action=DecisionAction.APPROVE,
        signer_id="qa-approver",
        printed_name="Quality Approver",
        role=Role.QA,
        reason=reason,
        signed_at=SINCE,
    )


def approve_all(ledger: Ledger, key: SigningKey, definitions: Iterable[CompiledDefinition]) -> None:
    """Approve each of `definitions` that is not approved and in use yet."""
    approvals = Approvals(ledger)
    for d in definitions:
        if approvals.refusal(d, datetime.now(UTC)) is None:
            continue
        approvals.approve(d, approver_signature(key, d), SINCE)
