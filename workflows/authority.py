"""Who may decide what: the one place for the rules of signed human decisions.

Every rule about a person's decision on a batch lives here, and nowhere else: which actions a
gate, a deviation or the whole batch allows; which roles may decide a gate, dispose of a
deviation or withdraw a batch; that nobody approves a step they performed; which decisions need
a written justification; that a signature is made by a trusted key, for this batch, recently,
once, over the current version of the record; and that a closed batch takes no decision. The
workflow's `decide` validator asks `refusal`; the service and the CLI ask `target_authority` and
`role_refusal` before they re-authenticate a signer, and `workflows.offers` builds the
console's links, forms and inbox from these rules.

Pure functions of typed values: no I/O, no clock (the time is passed in), deterministic, safe to
import inside the workflow sandbox. Whether a release is within specification is judged by
`workflows.judgement.release_refusal`; whether a signature is genuine by the deployment's key
registry (`workflows.keyring`), which the caller passes in as `keys`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from workflows import exceptional
from workflows.definition import CompiledDefinition
from workflows.judgement import release_refusal
from workflows.language import Gate, Limit
from workflows.model import (
    NEEDS_CAPA,
    BatchRecord,
    DecisionAction,
    DecisionBody,
    Deviation,
    Role,
    SignedDecision,
)
from workflows.review import (
    RECORD_REVIEW,
    REVIEW_ACTIONS,
    REVIEW_MEANING,
    review_refusal,
)
from workflows.signature_rules import Verifier, signature_refusal

#: The roles that may dispose of a deviation (retry, continue, exceptional release, abandon).
QA_ROLES: frozenset[Role] = frozenset({Role.QA, Role.QUALIFIED_PERSON})
#: The roles that may withdraw a whole batch (abandon it, running its compensations).
WITHDRAW_ROLES: frozenset[Role] = frozenset({Role.QA, Role.QUALIFIED_PERSON, Role.PHYSICIAN})
#: What a gate allows.
GATE_ACTIONS: tuple[DecisionAction, ...] = (DecisionAction.APPROVE, DecisionAction.REJECT)
#: What may be decided for the whole batch.
WITHDRAW_ACTIONS: tuple[DecisionAction, ...] = (DecisionAction.ABANDON,)
#: What a signature on a deviation's disposition means.
DISPOSITION_MEANING = "disposition of a deviation"
#: What a signature on a withdrawal means.
WITHDRAWAL_MEANING = "withdrawal of the batch"


class TargetKind(StrEnum):
    """What a decision is about."""

    GATE = "gate"
    DEVIATION = "deviation"
    BATCH = "batch"
    RECORD = "record"


@dataclass(frozen=True, slots=True)
class Authority:
    """Who may decide `target`, with which actions, and what a signature on it means."""

    target: str
    kind: TargetKind
    #: Every role that may decide it (a gate's in the definition's order, others sorted).
    roles: tuple[Role, ...]
    actions: tuple[DecisionAction, ...]
    meaning: str
    gate: Gate | None = None
    deviation: Deviation | None = None
    #: A role whose signature on the target means something else (a physician's request).
    requester: tuple[Role, str] | None = None

    def meaning_for(self, role: Role) -> str:
        """What a signature in `role` on the target means."""
        if self.requester is not None and self.requester[0] == role:
            return self.requester[1]
        return self.meaning

    def roles_of(self, held: Iterable[Role]) -> tuple[Role, ...]:
        """The roles among `held` that may decide this target, in `Role` order."""
        mine = set(held)
        return tuple(r for r in Role if r in mine and r in self.roles)


# -- the single rules ------------------------------------------------------------------------


def is_closed(record: BatchRecord, *, closed: bool = False) -> bool:
    """True when the batch takes no more decisions: completed, abandoned, or (as the workflow
    knows before its record says so) `closed`."""
    return closed or bool(record.abandoned_reason) or record.completed


def gate_at(definition: CompiledDefinition | None, name: str) -> Gate | None:
    """The gate step called `name` in `definition`, or None."""
    if definition is None:
        return None
    try:
        step = definition.step(name)
    except KeyError:
        return None
    return step if isinstance(step, Gate) else None


def gate_authority(gate: Gate) -> Authority:
    """Who may decide `gate`: the roles it names, approve or reject, meaning its meaning."""
    return Authority(gate.name, TargetKind.GATE, gate.roles, GATE_ACTIONS, gate.meaning, gate=gate)


def deviation_authority(deviation: Deviation) -> Authority:
    """Who may decide on `deviation`: QA or a qualified person dispose of it with the actions
    it allows; where that includes exceptional release, a physician may request it
    (`workflows.exceptional`)."""
    requested = deviation.is_open and exceptional.may_be_requested(deviation)
    roles = QA_ROLES | {exceptional.REQUESTING_ROLE} if requested else QA_ROLES
    # Accepted on conditions: what is left to decide is that they are met.
    actions = (
        (DecisionAction.CONDITIONS_MET,) if deviation.awaiting_conditions else deviation.choices()
    )
    return Authority(
        deviation.deviation_id,
        TargetKind.DEVIATION,
        tuple(sorted(roles)),
        actions,
        DISPOSITION_MEANING,
        deviation=deviation,
        requester=(exceptional.REQUESTING_ROLE, exceptional.REQUEST_MEANING) if requested else None,
    )


def withdrawal_authority(batch_id: str) -> Authority:
    """Who may withdraw the batch: QA, a qualified person or the physician; abandon only."""
    return Authority(
        batch_id,
        TargetKind.BATCH,
        tuple(sorted(WITHDRAW_ROLES)),
        WITHDRAW_ACTIONS,
        WITHDRAWAL_MEANING,
    )


def review_authority() -> Authority:
    """Who may review the batch record: QA or a qualified person, approving what they read."""
    return Authority(
        RECORD_REVIEW, TargetKind.RECORD, tuple(sorted(QA_ROLES)), REVIEW_ACTIONS, REVIEW_MEANING
    )


def target_authority(
    definition: CompiledDefinition | None, record: BatchRecord, target: str
) -> Authority | None:
    """Who may decide `target` on this batch, whether or not it awaits a decision now: a gate of
    the definition, the batch itself (withdrawal) or one of its deviations; None if the batch
    has nothing of that name. Whether it awaits a decision now is `refusal`'s business."""
    gate = gate_at(definition, target)
    if gate is not None:
        return gate_authority(gate)
    if target == RECORD_REVIEW:
        return review_authority()
    if target == record.batch_id:
        return withdrawal_authority(record.batch_id)
    deviation = next((d for d in record.deviations if d.deviation_id == target), None)
    return deviation_authority(deviation) if deviation is not None else None


def role_refusal(authority: Authority, role: Role) -> str | None:
    """Why `role` may not decide `authority.target`, or None when it may."""
    if role in authority.roles:
        return None
    if authority.kind == TargetKind.GATE:
        allowed = ", ".join(r.value for r in authority.roles)
        return f"role {role.value} may not decide {authority.target}; allowed: {allowed}"
    if authority.kind == TargetKind.BATCH:
        return f"role {role.value} may not withdraw a batch"
    if authority.kind == TargetKind.RECORD:
        return f"role {role.value} may not review the batch record"
    return f"role {role.value} may not dispose of a deviation"


def action_refusal(authority: Authority, action: DecisionAction) -> str | None:
    """Why `action` is not one `authority.target` allows, or None when it is."""
    if action in authority.actions:
        return None
    if authority.kind == TargetKind.GATE:
        return f"a gate is approved or rejected, not {action.value}"
    if authority.kind == TargetKind.BATCH:
        return "only abandonment can be decided for the whole batch"
    if authority.kind == TargetKind.RECORD:
        return f"a record review approves the record read, not {action.value}"
    allowed = ", ".join(a.value for a in authority.actions)
    return f"{authority.target} allows {allowed}, not {action.value}"


def self_approval_refusal(gate: Gate, signer_id: str, performers: Mapping[str, str]) -> str | None:
    """Why `signer_id` may not decide `gate` because they performed a step it requires."""
    for need in gate.requires:
        if performers.get(need) == signer_id:
            return f"{signer_id} performed {need} and may not approve it"
    return None


def justification_refusal(kind: TargetKind, action: DecisionAction, reason: str) -> str | None:
    """Why the decision needs a written justification it lacks: every rejection of a gate and
    every disposition of a deviation does; approval and withdrawal do not."""
    if reason.strip():
        return None
    if kind == TargetKind.GATE and action == DecisionAction.REJECT:
        return "a rejection needs a written justification"
    if kind == TargetKind.DEVIATION:
        return "a disposition needs a written justification"
    return None


# -- the decisions ---------------------------------------------------------------------------


def gate_refusal(
    gate: Gate,
    body: DecisionBody,
    *,
    record: BatchRecord,
    specification: Mapping[str, Limit],
    performers: Mapping[str, str],
    done: Collection[str],
) -> str | None:
    """Why `body` may not decide `gate`, which awaits a decision: the action, the role, the
    performers of what it requires, a rejection's justification; an approval also needs every
    required step done or result recorded, and a release no open deviation and every
    specification line met (`release_refusal`)."""
    authority = gate_authority(gate)
    refused = (
        action_refusal(authority, body.action)
        or role_refusal(authority, body.role)
        or self_approval_refusal(gate, body.signer_id, performers)
    )
    if refused is not None:
        return refused
    if body.action == DecisionAction.REJECT:
        return justification_refusal(TargetKind.GATE, body.action, body.reason)
    missing = [n for n in gate.requires if n not in done and n not in record.results]
    if missing:
        return f"cannot approve {gate.name} before {', '.join(missing)}"
    if gate.release:
        if record.open_deviations():
            return "cannot release with open deviations"
        if unmet := record.unmet_conditions():
            return "cannot release before the conditions are confirmed met: " + "; ".join(
                f"{d.deviation_id} ({d.conditions})" for d in unmet
            )
        return release_refusal(record, specification) or (
            review_refusal(record) if gate.record_review else None
        )
    return None


def withdrawal_refusal(body: DecisionBody) -> str | None:
    """Why `body` may not withdraw the batch: only abandonment, by a withdrawing role."""
    authority = withdrawal_authority(body.batch_id)
    return action_refusal(authority, body.action) or role_refusal(authority, body.role)


def disposition_refusal(record: BatchRecord, body: DecisionBody) -> str | None:
    """Why `body` may not decide on the deviation it names: it must exist and be open; a
    physician's is a request for exceptional release; otherwise the role must be QA's, the
    action one the deviation allows, the reason written, a CAPA named for a major or critical
    classification, and an exceptional release requested by a physician first."""
    deviation = next((d for d in record.deviations if d.deviation_id == body.target), None)
    if deviation is None:
        return f"nothing awaits a decision at '{body.target}'"
    authority = deviation_authority(deviation)
    if deviation.awaiting_conditions:
        return (
            role_refusal(authority, body.role)
            or action_refusal(authority, body.action)
            or (None if body.reason.strip() else "confirming conditions met names the evidence")
        )
    if not deviation.is_open:
        return f"{deviation.deviation_id} is already disposed of"
    if exceptional.is_request(body):
        return exceptional.request_refusal(deviation, body)
    if body.action == DecisionAction.ON_HOLD:
        # Any open deviation may wait for an investigation; only QA says so, and why.
        return role_refusal(authority, body.role) or (
            None if body.reason.strip() else "a hold names the investigation it waits for"
        )
    refused = (
        role_refusal(authority, body.role)
        or action_refusal(authority, body.action)
        or justification_refusal(TargetKind.DEVIATION, body.action, body.reason)
    )
    if refused is None and body.severity in NEEDS_CAPA and not (body.capa or "").strip():
        return f"a {body.severity} deviation's disposition names its CAPA"
    if refused is None:
        refused = terms_refusal(deviation, body)
    if refused is None and body.action == DecisionAction.EXCEPTIONAL_RELEASE:
        return exceptional.missing_request(record, deviation)
    return refused


def terms_refusal(deviation: Deviation, body: DecisionBody) -> str | None:
    """Why the terms of a disposition do not fit its action: a conditional acceptance states
    its conditions, a rework names a step the definition allows going back to, and neither
    is given with any other action."""
    conditional = body.action == DecisionAction.ACCEPT_CONDITIONALLY
    if conditional != bool((body.conditions or "").strip()):
        return (
            "a conditional acceptance states its conditions"
            if conditional
            else "conditions go with accept_conditionally only"
        )
    if body.action != DecisionAction.REWORK:
        return "a step to rework from goes with rework only" if body.rework_to else None
    if body.rework_to not in deviation.rework_to:
        allowed = ", ".join(deviation.rework_to)
        return f"{deviation.deviation_id} may be reworked from {allowed}, not {body.rework_to}"
    return None


def refusal(
    decision: SignedDecision,
    *,
    record: BatchRecord,
    definition: CompiledDefinition,
    awaiting_gates: Collection[str],
    performers: Mapping[str, str],
    done: Collection[str],
    used_signatures: Collection[str],
    now: datetime,
    max_age: timedelta,
    keys: Verifier,
    closed: bool = False,
) -> str | None:
    """Why the workflow must refuse `decision`, or None to accept it.

    `awaiting_gates` are the gates waiting for a decision, `performers` who performed each step
    (step name to user id), `done` the steps finished, `used_signatures` the signature ids
    already applied, `keys` the deployment's trusted keys, `closed` whether the workflow has
    closed the batch. Checked in order: the signature, the batch being open, then the target
    (a waiting gate, the batch itself, or an open deviation).
    """
    body = decision.body
    refused = signature_refusal(
        decision,
        record=record,
        keys=keys,
        used_signatures=used_signatures,
        now=now,
        max_age=max_age,
    )
    if refused is not None:
        return refused
    if is_closed(record, closed=closed):
        return "batch is closed"
    if body.target in awaiting_gates:
        gate = gate_at(definition, body.target)
        if gate is None:
            return f"nothing awaits a decision at '{body.target}'"
        return gate_refusal(
            gate,
            body,
            record=record,
            specification=definition.release_specification(),
            performers=performers,
            done=done,
        )
    if body.target == record.batch_id:
        return withdrawal_refusal(body)
    if body.target == RECORD_REVIEW:
        authority = review_authority()
        return role_refusal(authority, body.role) or action_refusal(authority, body.action)
    return disposition_refusal(record, body)
