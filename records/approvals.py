"""Approval of definition versions for use: QA signs a version (its content hash) effective
from a date, or retires it; nothing starts a batch on a version that is not approved and
effective, or that was retired (`Approvals.refusal`).

Approvals live in the ledger, one hash chain per product (`DEF-<product>`), so they are
append-only, verified by `ledger verify` and anchored by its signed checkpoints like every
batch's trail. An approval entry carries the signature (who, when, meaning, reason), the
approved definition itself and the diff from the version approved before it, so that a
reviewer sees what changed, in the record, long after the code moved on.
"""

from __future__ import annotations

import difflib
import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from records.ledger import Ledger
from workflows.definition import CompiledDefinition
from workflows.record import AuditEvent, Signature

__all__ = ["APPROVED", "RETIRED", "Approval", "ApprovalBody", "Approvals", "chain_of"]

#: The ledger actions of the approval chain.
APPROVED = "definition.approved"
RETIRED = "definition.retired"


def chain_of(product: str) -> str:
    """The ledger chain that holds `product`'s approvals."""
    return f"DEF-{product}"


class ApprovalBody(BaseModel):
    """What an approval entry stores besides its signature: the version approved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    content_hash: str
    effective_from: datetime
    definition: dict[str, object]


class Approval(BaseModel):
    """Where one version of a product stands: approved (from when, by whom), maybe retired."""

    model_config = ConfigDict(frozen=True)

    product: str
    version: str
    content_hash: str
    effective_from: datetime
    approved_by: str
    approved_at: datetime
    reason: str
    diff: str | None = None
    retired_by: str | None = None
    retired_at: datetime | None = None
    retired_reason: str | None = None

    def in_use(self, now: datetime) -> bool:
        """Effective at `now` and not retired."""
        return self.retired_at is None and self.effective_from <= now


class Approvals:
    """The approval chains in a ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def of(self, product: str) -> dict[str, Approval]:
        """Every approved version of `product` (retired ones included), by version."""
        out: dict[str, Approval] = {}
        for entry in self._ledger.entries(chain_of(product)):
            sig = entry.signature
            if entry.action == APPROVED and entry.new_value and sig is not None:
                body = ApprovalBody.model_validate_json(entry.new_value)
                out[body.version] = Approval(
                    product=product,
                    version=body.version,
                    content_hash=body.content_hash,
                    effective_from=body.effective_from,
                    approved_by=sig.printed_name,
                    approved_at=sig.signed_at,
                    reason=entry.reason or "",
                    diff=entry.old_value,
                )
            elif entry.action == RETIRED and entry.subject in out and sig is not None:
                out[entry.subject] = out[entry.subject].model_copy(
                    update={
                        "retired_by": sig.printed_name,
                        "retired_at": sig.signed_at,
                        "retired_reason": entry.reason,
                    }
                )
        return out

    def definition(self, product: str, version: str) -> CompiledDefinition | None:
        """The definition approved as `product` `version`, as stored with its approval."""
        for entry in reversed(self._ledger.entries(chain_of(product))):
            if entry.action == APPROVED and entry.subject == version and entry.new_value:
                body = ApprovalBody.model_validate_json(entry.new_value)
                return CompiledDefinition.model_validate(body.definition)
        return None

    def refusal(self, defn: CompiledDefinition, now: datetime) -> str | None:
        """Why no batch may start on `defn` at `now`, or None when it may."""
        approval = self.of(defn.product).get(defn.version)
        name = f"{defn.product} {defn.version}"
        if approval is None:
            return f"{name} is not approved for use (QA: vein2vein definitions approve)"
        if approval.content_hash != defn.content_hash:
            return f"{name} differs from the approved content ({approval.content_hash[:12]})"
        if approval.retired_at is not None:
            return f"{name} was retired by {approval.retired_by}: {approval.retired_reason}"
        if approval.effective_from > now:
            return f"{name} is approved from {approval.effective_from.isoformat()} only"
        return None

    def approve(
        self,
        defn: CompiledDefinition,
        signature: Signature,
        effective_from: datetime,
        *,
        previous: CompiledDefinition | None = None,
    ) -> Approval:
        """Record `signature` approving `defn` from `effective_from`, with the diff from
        `previous` (the version in use before, when it is known). Raises `ValueError` when
        this exact version is already approved and not retired."""
        current = self.of(defn.product).get(defn.version)
        if current is not None and current.retired_at is None:
            raise ValueError(f"{defn.product} {defn.version} is already approved")
        body = ApprovalBody(
            version=defn.version,
            content_hash=defn.content_hash,
            effective_from=effective_from,
            definition=defn.model_dump(mode="json"),
        )
        diff = _diff(previous, defn) if previous is not None else None
        self._append(defn.product, APPROVED, defn.version, signature, body.model_dump_json(), diff)
        return self.of(defn.product)[defn.version]

    def retire(self, product: str, version: str, signature: Signature) -> Approval:
        """Record `signature` retiring an approved version; `ValueError` if there is none."""
        current = self.of(product).get(version)
        if current is None or current.retired_at is not None:
            raise ValueError(f"{product} {version} is not an approved version in use")
        self._append(product, RETIRED, version, signature, None, None)
        return self.of(product)[version]

    def _append(
        self,
        product: str,
        action: str,
        version: str,
        signature: Signature,
        new_value: str | None,
        old_value: str | None,
    ) -> None:
        chain = chain_of(product)
        entry = AuditEvent(
            batch_id=chain,
            seq=len(self._ledger.entries(chain)) + 1,
            at=signature.signed_at,
            actor=signature.signer_id,
            action=action,
            subject=version,
            old_value=old_value,
            new_value=new_value,
            reason=signature.reason,
            signature=signature,
            definition_hash=signature.record_hash,
            product=product,
        )
        self._ledger.append([entry])


def _diff(before: CompiledDefinition, after: CompiledDefinition) -> str:
    def lines(d: CompiledDefinition) -> list[str]:
        data = d.model_dump(mode="json", exclude={"content_hash"})
        return json.dumps(data, indent=1, sort_keys=True).splitlines()

    return "\n".join(
        difflib.unified_diff(
            lines(before),
            lines(after),
            fromfile=f"{before.product} {before.version}",
            tofile=f"{after.product} {after.version}",
            lineterm="",
        )
    )
