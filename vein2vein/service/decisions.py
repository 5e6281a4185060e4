"""Electronic signatures (21 CFR 11.50, 11.70, 11.200): re-authenticate, sign, submit, record.

Even inside a session the signer types their password again (a single sign-on user instead
signs in again at the identity provider: `vein2vein.service.oidc_signing`). The service then signs a
`DecisionBody` (printed name, time, meaning, reason, hash of the record reviewed) with the
deployment's Ed25519 key and submits it as the workflow's `decide` update, whose validator
checks signature, batch, freshness, single use, record version, role and performer. Refusals,
wrong passwords and lockouts are written to the security log.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from vein2vein.service.auth import Principal
from vein2vein.service.authn import AuthError, must_change_message
from vein2vein.service.batches import definition_of, fetch_record
from vein2vein.service.context import ServiceContext
from vein2vein.service.security import SecurityEvent
from vein2vein.service.users import User
from vein2vein.signing import sign_decision
from workflows.authority import Authority, role_refusal, target_authority
from workflows.client import decide, settled_record
from workflows.model import BatchRecord, DecisionAction, DecisionReceipt, Role, Severity


class Decision(BaseModel):
    """What a person decides and signs: target, action, role, meaning, reason, record version."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(
        min_length=1, max_length=80, description="Gate name, deviation id (DEV-n) or batch id"
    )
    action: DecisionAction
    role: Role = Field(description="The role the signer signs in; they must hold it")
    reason: str = Field(default="", max_length=2000)
    meaning: str | None = Field(
        default=None, max_length=200, description="Default: the gate's meaning"
    )
    record_hash: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="Hash of the record version reviewed (default: the current one)",
    )
    severity: Severity | None = Field(
        default=None, description="A deviation's classification (a disposition only)"
    )
    capa: str | None = Field(
        default=None, max_length=80, description="The CAPA a major or critical deviation names"
    )
    conditions: str | None = Field(
        default=None,
        max_length=2000,
        description="What a conditional acceptance waits for before release",
    )
    rework_to: str | None = Field(
        default=None, max_length=80, description="The step a rework sends the batch back to"
    )


class DecisionRequest(Decision):
    """A person's decision, with their password typed again for the signature."""

    password: str = Field(
        min_length=1, max_length=200, repr=False, json_schema_extra={"format": "password"}
    )


async def _password_again(
    ctx: ServiceContext, who: Principal, batch_id: str, password: str
) -> User:
    stored = ctx.users.get(who.id)
    if stored is not None and stored.active and stored.password_hash is None:
        raise HTTPException(
            403,
            "you sign in through single sign-on and have no password here: sign in the console,"
            " which sends you to your identity provider to sign in again",
        )
    try:
        return await asyncio.to_thread(
            ctx.identity.auth.authenticate, who.id, password, purpose=f"signature {batch_id}"
        )
    except AuthError as err:
        headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
        raise HTTPException(err.status, err.message, headers=headers) from err


async def authority(ctx: ServiceContext, rec: BatchRecord, target: str) -> Authority:
    """Who may decide `target` on this batch (`workflows.authority`); 404 if it has nothing of
    that name."""
    found = target_authority(await definition_of(ctx, rec), rec, target)
    if found is None:
        raise HTTPException(404, f"batch {rec.batch_id} has no gate or deviation '{target}'")
    return found


async def sign_and_submit(
    ctx: ServiceContext,
    who: Principal,
    batch_id: str,
    req: Decision,
    *,
    reauthenticated: User | None = None,
) -> DecisionReceipt:
    """Check authority, re-authenticate, sign and submit; HTTPException says why not.

    The signer re-authenticates with the password in `req` (a `DecisionRequest`), unless the
    caller passes `reauthenticated`: the user a fresh sign-in at the identity provider proved
    (`vein2vein.service.oidc_signing`), who must be `who`.
    """
    rec = await fetch_record(ctx, batch_id)
    auth = await authority(ctx, rec, req.target)

    def refuse(status: int, reason: str) -> HTTPException:
        ctx.security.record(
            SecurityEvent.DECISION_REFUSED,
            actor=who.id,
            user_id=who.id,
            batch_id=batch_id,
            target=req.target,
            detail=f"{req.action.value} as {req.role.value}: {reason}",
        )
        return HTTPException(status, reason)

    if req.role not in who.roles:
        raise refuse(403, f"you do not hold the role {req.role.value}")
    role_refused = role_refusal(auth, req.role)
    if role_refused is not None:
        raise refuse(403, role_refused)
    if reauthenticated is not None:
        if reauthenticated.user_id != who.id:
            raise refuse(403, "the re-authenticated identity is not the signed-in person")
        user = reauthenticated
    elif not isinstance(req, DecisionRequest):
        raise refuse(401, "re-authentication required to sign")
    else:
        user = await _password_again(ctx, who, batch_id, req.password)
    if user.must_change_password:
        raise refuse(403, must_change_message(user.user_id))
    signed = sign_decision(
        ctx.key,
        batch_id=batch_id,
        target=req.target,
        action=req.action,
        signer_id=user.user_id,
        printed_name=user.printed_name,
        role=req.role,
        meaning=req.meaning or auth.meaning_for(req.role),
        reason=req.reason,
        record_hash=req.record_hash or rec.record_hash,
        signed_at=await ctx.clock(),
        severity=req.severity,
        capa=req.capa,
        conditions=req.conditions,
        rework_to=req.rework_to,
    )
    try:
        receipt = await decide(ctx.temporal(), batch_id, signed)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        reason = getattr(cause, "message", None) or str(cause or err)
        raise refuse(409, reason) from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise refuse(409, f"batch {batch_id} is closed") from err
        raise HTTPException(503, f"Temporal is unavailable: {err.message}") from err
    ctx.security.record(
        SecurityEvent.DECISION_ACCEPTED,
        actor=user.user_id,
        user_id=user.user_id,
        batch_id=batch_id,
        target=req.target,
        detail=f"{req.action.value} as {req.role.value}; {signed.body.signature_id}",
    )
    # The receipt's status is the one at acceptance; answer with where the batch now stands.
    after = await settled_record(ctx.temporal(), batch_id, receipt.target, timeout=5.0)
    # The signer's next look at the board and inbox shows what they just decided.
    ctx.board_cache[batch_id] = (time.monotonic(), after)
    return receipt.model_copy(update={"status": after.status})
