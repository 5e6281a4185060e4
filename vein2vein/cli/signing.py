"""Signing a decision from the command line: authority first, then the password, then the
signature (`vein2vein batch decide` and `batch abandon`)."""

from __future__ import annotations

from vein2vein.cli.common import CliError, catalog, load_settings, out, run, temporal_client
from workflows.model import DecisionAction, Role, Severity


def sign_and_submit(
    batch_id: str,
    target: str,
    action: DecisionAction,
    *,
    signer: str,
    role: Role,
    meaning: str | None,
    reason: str,
    severity: Severity | None = None,
    capa: str | None = None,
    conditions: str | None = None,
    rework_to: str | None = None,
) -> None:
    """Check the role may decide `target` (`workflows.authority`), ask the signer's password,
    sign with the deployment key (`vein2vein.signing`) and submit; the workflow has the last
    word. `meaning` defaults to what a signature on the target means."""
    from datetime import UTC, datetime

    from vein2vein.keys import deployment_signing_key
    from vein2vein.signing import SignerRefused, authenticate_signer, sign_decision
    from workflows.authority import role_refusal, target_authority
    from workflows.client import decide, get_record, pinned_definition, settled_record

    settings = load_settings()

    async def go() -> str:
        client = await temporal_client()
        rec = await get_record(client, batch_id)
        pinned = catalog().get(rec.product)
        if pinned is None or pinned.content_hash != rec.definition_hash:
            pinned = await pinned_definition(client, batch_id)
        authority = target_authority(pinned, rec, target)
        if authority is None:
            raise CliError(f"batch {batch_id} has no gate or deviation '{target}'")
        refused = role_refusal(authority, role)
        if refused is not None:
            raise CliError(f"signature refused: {refused}")
        try:
            name = authenticate_signer(settings, signer, role)
        except SignerRefused as e:
            raise CliError(f"signature refused: {e}") from e
        signed = sign_decision(
            deployment_signing_key(settings),
            batch_id=batch_id,
            target=target,
            action=action,
            signer_id=signer,
            printed_name=name,
            role=role,
            meaning=meaning or authority.meaning_for(role),
            reason=reason,
            record_hash=rec.record_hash,
            signed_at=datetime.now(UTC),
            severity=severity,
            capa=capa,
            conditions=conditions,
            rework_to=rework_to,
        )
        receipt = await decide(client, batch_id, signed)
        after = await settled_record(client, batch_id, receipt.target)
        return f"{receipt.action.value} recorded on {receipt.target}; status {after.status.value}"

    out.print(run(go()))
