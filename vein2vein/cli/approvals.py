"""`vein2vein definitions approve|retire|approvals`: QA approves a locked definition version for
use from a date, or retires it, with an electronic signature (the password is asked again);
every approval, its signature and its diff are in the ledger (`records.approvals`)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from definitions.lock import DefinitionLock
from vein2vein.cli.common import CliError, command, definition, load_settings, open_ledger, out
from vein2vein.cli.definitions import definitions_app, lock_file
from vein2vein.readable import when
from workflows.model import DecisionAction, Role
from workflows.record import Signature


def _signature(
    product: str,
    version: str,
    content_hash: str,
    action: DecisionAction,
    *,
    signer: str,
    role: Role,
    reason: str,
) -> Signature:
    """Re-authenticate `signer` in `role` (11.200), then sign over the version's hash."""
    from vein2vein.approvals import approval_signature
    from vein2vein.keys import deployment_signing_key
    from vein2vein.signing import SignerRefused, authenticate_signer

    settings = load_settings()
    try:
        name = authenticate_signer(settings, signer, role)
    except SignerRefused as e:
        raise CliError(f"signature refused: {e}") from e
    return approval_signature(
        deployment_signing_key(settings),
        product=product,
        version=version,
        content_hash=content_hash,
        action=action,
        signer_id=signer,
        printed_name=name,
        role=role,
        reason=reason,
        signed_at=datetime.now(UTC),
    )


@definitions_app.command("approve")
@command
def definitions_approve(
    product: str,
    signer: str = typer.Option(..., help="Your user id (your password is asked again)."),
    role: Role = typer.Option(Role.QA, help="qa or qualified_person."),
    reason: str = typer.Option(..., help="Why it may be used (e.g. the change record)."),
    effective: datetime | None = typer.Option(
        None, help="Effective from (ISO date or time, UTC); default: now."
    ),
) -> None:
    """Approve the catalog's version of PRODUCT for use (it must be in the definition lock)."""
    from records.approvals import Approvals
    from vein2vein.approvals import APPROVER_ROLES, approve

    d = definition(product)
    if role not in APPROVER_ROLES:
        raise CliError(f"role {role.value} may not approve definitions")
    if DefinitionLock.load(lock_file()).locked(d.product, d.version) != d.content_hash:
        raise CliError(f"{d.product} {d.version} is not in the definition lock as it is now")
    approvals = Approvals(open_ledger())
    if d.version in approvals.of(d.product):
        current = approvals.of(d.product)[d.version]
        if current.retired_at is None:
            raise CliError(f"{d.product} {d.version} is already approved")
    start = effective or datetime.now(UTC)
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    sig = _signature(
        d.product,
        d.version,
        d.content_hash,
        DecisionAction.APPROVE,
        signer=signer,
        role=role,
        reason=reason,
    )
    approved = approve(approvals, d, sig, start, [d])
    out.print(
        f"{d.product} {d.version} approved by {approved.approved_by}, effective"
        f" {when(approved.effective_from)}",
        markup=False,
    )


@definitions_app.command("retire")
@command
def definitions_retire(
    product: str,
    version: str,
    signer: str = typer.Option(..., help="Your user id (your password is asked again)."),
    role: Role = typer.Option(Role.QA, help="qa or qualified_person."),
    reason: str = typer.Option(..., help="Why it may no longer be used."),
) -> None:
    """Retire an approved version: no new batch starts on it (running ones stay pinned)."""
    from records.approvals import Approvals
    from vein2vein.approvals import APPROVER_ROLES, retire

    approvals = Approvals(open_ledger())
    current = approvals.of(product).get(version)
    if current is None or current.retired_at is not None:
        raise CliError(f"{product} {version} is not an approved version in use")
    if role not in APPROVER_ROLES:
        raise CliError(f"role {role.value} may not retire definitions")
    sig = _signature(
        product,
        version,
        current.content_hash,
        DecisionAction.REJECT,
        signer=signer,
        role=role,
        reason=reason,
    )
    retired = retire(approvals, product, version, sig)
    out.print(f"{product} {version} retired by {retired.retired_by}", markup=False)


@definitions_app.command("approvals")
@command
def definitions_approvals(
    product: str,
    diff: str | None = typer.Option(None, help="Print the diff approved with this version."),
) -> None:
    """Every approved version of PRODUCT: hash, effective date, who approved, retired."""
    from records.approvals import Approvals

    approvals = Approvals(open_ledger()).of(product)
    if diff is not None:
        if diff not in approvals:
            raise CliError(f"{product} {diff} was never approved")
        out.print(approvals[diff].diff or "(first approved version: no diff)", markup=False)
        return
    table = Table("version", "hash", "effective from", "approved by", "at", "state")
    for a in approvals.values():
        state = f"retired by {a.retired_by}" if a.retired_at else "in use"
        table.add_row(
            a.version,
            a.content_hash[:12],
            when(a.effective_from),
            a.approved_by,
            when(a.approved_at),
            state,
        )
    out.print(table)
