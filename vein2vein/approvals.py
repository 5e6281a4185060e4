"""Approving definition versions for use, host side: who may, how it is signed, and the
refusal every way of starting a batch asks for (`vein2vein.service.orders.start_order`).

A version is approved by QA or a qualified person with an electronic signature over its
content hash (the same signing as a batch decision: `vein2vein.signing`), effective from a
date; the approval, the approved definition and its diff from the version before go to the
ledger (`records.approvals`). Deployments enforce approval unless `VEIN2VEIN_REQUIRE_APPROVAL`
is off (a development machine).
"""

from __future__ import annotations

from datetime import datetime

from records.approvals import Approval, Approvals, chain_of
from vein2vein.signing import sign_decision
from workflows.definition import CompiledDefinition
from workflows.model import DecisionAction, Role, SignedDecision
from workflows.record import Signature
from workflows.signatures import SigningKey

__all__ = ["APPROVER_ROLES", "approval_signature", "approve", "retire", "signature_of"]

#: Who may approve or retire a definition version.
APPROVER_ROLES = frozenset({Role.QA, Role.QUALIFIED_PERSON})
APPROVE_MEANING = "I approve this process definition version for use in production"
RETIRE_MEANING = "I retire this process definition version from use"


def signature_of(signed: SignedDecision) -> Signature:
    """The signature manifestation kept on the record (11.50) for a signed decision."""
    b = signed.body
    return Signature(
        signature_id=b.signature_id,
        target=b.target,
        action=b.action,
        signer_id=b.signer_id,
        printed_name=b.printed_name,
        role=b.role,
        signed_at=b.signed_at,
        meaning=b.meaning,
        reason=b.reason,
        record_hash=b.record_hash,
        key_id=b.key_id,
    )


def approval_signature(
    key: SigningKey,
    *,
    product: str,
    version: str,
    content_hash: str,
    action: DecisionAction,
    signer_id: str,
    printed_name: str,
    role: Role,
    reason: str,
    signed_at: datetime,
) -> Signature:
    """`signer_id`'s signature over a definition version's content hash (call it only after
    re-authenticating the signer); raises `ValueError` for a role that may not approve."""
    if role not in APPROVER_ROLES:
        raise ValueError(f"role {role.value} may not approve or retire definitions")
    signed = sign_decision(
        key,
        batch_id=chain_of(product),
        target=f"{product}@{version}",
        action=action,
        signer_id=signer_id,
        printed_name=printed_name,
        role=role,
        meaning=APPROVE_MEANING if action == DecisionAction.APPROVE else RETIRE_MEANING,
        reason=reason,
        record_hash=content_hash,
        signed_at=signed_at,
    )
    return signature_of(signed)


def approve(
    approvals: Approvals,
    defn: CompiledDefinition,
    signature: Signature,
    effective_from: datetime,
    catalog_versions: list[CompiledDefinition],
) -> Approval:
    """Record the approval of `defn`, with the diff from the newest other version of the
    product that is approved and known here (from `catalog_versions` or the ledger)."""
    known = {d.version: d for d in catalog_versions if d.product == defn.product}
    approved = approvals.of(defn.product)
    before = [a for v, a in approved.items() if v != defn.version and a.retired_at is None]
    previous = None
    if before:
        latest = max(before, key=lambda a: a.approved_at)
        previous = known.get(latest.version) or approvals.definition(defn.product, latest.version)
    return approvals.approve(defn, signature, effective_from, previous=previous)


def retire(approvals: Approvals, product: str, version: str, signature: Signature) -> Approval:
    """Record the retirement of an approved version."""
    return approvals.retire(product, version, signature)
