"""Re-authentication at signing (21 CFR 11.200) for people who sign in at the identity provider.

They have no password here, so the console sends them back to the provider with
`prompt=login` and `max_age=0` (sign in again, whatever session the provider holds) while the
decision they filled in waits server-side, bound to their session (`service_oidc_requests`).
The signature is made only if the ID token that comes back names the same subject as the
signed-in person and its `auth_time` is at most `FRESH_SIGNING` old; anything else is refused
and written to the security log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import HTTPException, Request

from vein2vein.service.auth import Principal
from vein2vein.service.batches import fetch_record
from vein2vein.service.context import ServiceContext
from vein2vein.service.decisions import Decision, authority
from vein2vein.service.oidc import LEEWAY, OidcProvider, Pending
from vein2vein.service.security import SecurityEvent
from workflows.authority import role_refusal

#: The oldest sign-in at the provider a signature accepts.
FRESH_SIGNING = timedelta(minutes=5)
#: The purpose of a request sent to the provider to re-authenticate for a signature.
SIGN = "sign"


def callback_url(request: Request) -> str:
    """The redirect URI the provider sends the browser back to (`/login/oidc/callback`)."""
    return str(request.url_for("oidc_callback"))


def provider_of(ctx: ServiceContext) -> OidcProvider:
    """The configured provider, or 404 when single sign-on is not configured."""
    if ctx.oidc is None:
        raise HTTPException(404, "single sign-on is not configured")
    return ctx.oidc


async def start_signing(
    request: Request,
    ctx: ServiceContext,
    who: Principal,
    batch_id: str,
    decision: Decision,
    form_id: str,
) -> str:
    """Keep `decision` for `who`'s session and return the provider URL that re-authenticates
    them; refuses at once what the signature would be refused for anyway (role, authority)."""
    provider = provider_of(ctx)
    rec = await fetch_record(ctx, batch_id)
    auth = await authority(ctx, rec, decision.target)
    if decision.role not in who.roles:
        raise HTTPException(403, f"you do not hold the role {decision.role.value}")
    refused = role_refusal(auth, decision.role)
    if refused is not None:
        raise HTTPException(403, refused)
    payload = {
        "batch_id": batch_id,
        "form_id": form_id,
        "decision": decision.model_dump(mode="json"),
    }
    return await provider.start(
        SIGN, who.session_hash, callback_url(request), payload, prompt="login", max_age=0
    )


def freshness_problem(
    ctx: ServiceContext, who: Principal, claims: dict[str, Any], pending: Pending
) -> str | None:
    """Why the provider's answer does not re-authenticate `who` for a signature now, or None."""
    provider = provider_of(ctx)
    linked = ctx.users.by_identity(provider.settings.issuer, str(claims.get("sub", "")))
    if linked is None or linked.user_id != who.id:
        return "you signed in again at the identity provider as somebody else"
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int | float) or isinstance(auth_time, bool):
        return "the identity provider did not say when you signed in"
    now = datetime.now(UTC).timestamp()
    age = now - float(auth_time)
    limit = FRESH_SIGNING.total_seconds()
    if age > limit:
        return (
            f"your sign-in at the identity provider is {int(age)} s old; a signature needs"
            f" one from the last {int(limit)} s"
        )
    # A sign-in from before the request was made is no answer to it (with max_age=0).
    if float(auth_time) < pending.created_at.timestamp() - LEEWAY or age < -LEEWAY:
        return "the identity provider reports a sign-in from before the signature was asked"
    return None


def refuse(ctx: ServiceContext, who: Principal, pending: Pending, reason: str) -> None:
    """Write a refused re-authenticated signature to the security log."""
    decision = pending.payload.get("decision", {})
    ctx.security.record(
        SecurityEvent.DECISION_REFUSED,
        actor=who.id,
        user_id=who.id,
        batch_id=str(pending.payload.get("batch_id", ""))[:80] or None,
        target=str(decision.get("target", ""))[:80] or None,
        detail=f"{decision.get('action')} as {decision.get('role')}: {reason}",
    )
