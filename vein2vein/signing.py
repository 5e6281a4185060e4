"""Signing a person's decision: re-authenticate the signer, then sign on their behalf (11.200).

The CLI and the service both sign through `sign_decision`, which builds the `DecisionBody`
(printed name, role, time, meaning, reason, hash of the record reviewed) and signs it with the
deployment's key (`vein2vein.keys.deployment_signing_key`). The CLI re-authenticates with
`authenticate_signer`, which asks for the password again even if the person is already logged
in and refuses a role the user does not hold; the service does the same through its user store.
Nothing here imports the web service until the CLI asks for a password.
"""

from __future__ import annotations

import getpass
import secrets
from datetime import datetime

from vein2vein.settings import Settings
from workflows.model import DecisionAction, DecisionBody, Role, Severity, SignedDecision
from workflows.signatures import SigningKey


class SignerRefused(Exception):
    """The signer could not be re-authenticated; the message says why."""


def authenticate_signer(settings: Settings, signer_id: str, role: Role) -> str:
    """Prompt for `signer_id`'s password, check it and the role; return the printed name.

    Failed attempts count towards the same throttling as the console's.
    """
    from vein2vein.service.identity import Identity  # the service owns the user store

    identity = Identity.open(settings.ledger, settings.data_dir)
    password = getpass.getpass(f"password for {signer_id} (signing as {role.value}): ")
    problem = identity.auth.check_signer(signer_id, password, role)
    if problem is not None:
        raise SignerRefused(problem)
    user = identity.users.get(signer_id)
    if user is None:
        raise SignerRefused(f"unknown user {signer_id}")
    return user.printed_name


def new_signature_id() -> str:
    """A fresh, unguessable signature id; the workflow accepts each id once."""
    return f"SIG-{secrets.token_hex(16)}"


def sign_decision(
    key: SigningKey,
    *,
    batch_id: str,
    target: str,
    action: DecisionAction,
    signer_id: str,
    printed_name: str,
    role: Role,
    meaning: str,
    reason: str,
    record_hash: str,
    signed_at: datetime,
    severity: Severity | None = None,
    capa: str | None = None,
    conditions: str | None = None,
    rework_to: str | None = None,
) -> SignedDecision:
    """`signer_id`'s decision on `target`, signed with `key` at `signed_at` over the record
    version `record_hash`; the reason is kept without surrounding blanks. Call it only after
    the signer has been re-authenticated in `role`."""
    body = DecisionBody(
        signature_id=new_signature_id(),
        batch_id=batch_id,
        target=target,
        action=action,
        signer_id=signer_id,
        printed_name=printed_name,
        role=role,
        signed_at=signed_at,
        meaning=meaning,
        reason=reason.strip(),
        record_hash=record_hash,
        key_id=key.key_id,
        severity=severity,
        capa=_text(capa),
        conditions=_text(conditions),
        rework_to=_text(rework_to),
    )
    return key.sign(body)


def _text(value: str | None) -> str | None:
    # Blank is unset: a field left empty in a form is not part of what is signed.
    return value.strip() if value and value.strip() else None
