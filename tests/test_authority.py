"""Who may decide what (`workflows.authority`): every rule and every refusal, as a table.

Pure functions, so no Temporal server: each case builds a record, signs a decision over it
with a key the registry trusts, and asks `refusal` with the workflow's state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.products import FLAKY_BOOKING, RELEASE_JUDGED
from workflows.authority import (
    QA_ROLES,
    WITHDRAW_ROLES,
    Authority,
    TargetKind,
    action_refusal,
    justification_refusal,
    refusal,
    role_refusal,
    target_authority,
)
from workflows.definition import CompiledDefinition
from workflows.keyring import KeyRegistry, TrustedKey
from workflows.model import (
    BatchRecord,
    DecisionAction,
    DecisionBody,
    Deviation,
    DeviationKind,
    RecordedResult,
    Role,
    SignedDecision,
    StepRun,
    StepState,
)
from workflows.offers import open_decisions, performers_in
from workflows.signatures import SigningKey

A = DecisionAction
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
KEY = SigningKey.generate("k-unit")
ROGUE = SigningKey.generate("k-rogue")
TRUSTED = KeyRegistry(keys={KEY.key_id: TrustedKey(key_id=KEY.key_id, public_hex=KEY.public_hex())})
NOT_YET = KeyRegistry(
    keys={
        KEY.key_id: TrustedKey(
            key_id=KEY.key_id, public_hex=KEY.public_hex(), valid_from=NOW + timedelta(days=1)
        )
    }
)
MAX_AGE = timedelta(minutes=10)
Patch = Callable[[BatchRecord], None]


def _record(defn: CompiledDefinition) -> BatchRecord:
    return BatchRecord(
        batch_id="B-1",
        product=defn.product,
        definition_version=defn.version,
        definition_hash=defn.content_hash,
        order_id="O-1",
        sites={},
    )


def _deviation(
    dev_id: str = "DEV-1", *, disposed: bool = False, results: tuple[str, ...] = ()
) -> Deviation:
    return Deviation(
        deviation_id=dev_id,
        kind=DeviationKind.RETRIES_EXHAUSTED,
        step="book_slot",
        opened_at=NOW,
        description="booking failed",
        allowed=(A.RETRY, A.CONTINUE, A.ABANDON),
        results=results,
        disposition=A.RETRY if disposed else None,
    )


def _result(name: str, value: float | str, ok: bool) -> RecordedResult:
    return RecordedResult(
        name=name, value=value, unit="", step="s", at=NOW, reporter="lims", in_specification=ok
    )


def _with_deviation(disposed: bool = False) -> Patch:
    return lambda rec: rec.deviations.append(_deviation(disposed=disposed))


def _released_results(sterility: str = "negative") -> Patch:
    def patch(rec: BatchRecord) -> None:
        rec.results["dose_vg"] = _result("dose_vg", 1e13, True)
        rec.results["vials_needed"] = _result("vials_needed", 3.0, True)
        rec.results["sterility"] = _result("sterility", sterility, sterility == "negative")

    return patch


def _set(**values: Any) -> Patch:
    def patch(rec: BatchRecord) -> None:
        for name, value in values.items():
            setattr(rec, name, value)

    return patch


@dataclass
class Case:
    """One decision in one state of the batch, and what `refusal` says to it."""

    expected: str | None
    target: str = "approve"
    action: DecisionAction = A.APPROVE
    role: Role = Role.QA
    signer: str = "qa-ada"
    reason: str = "reviewed"
    defn: CompiledDefinition = FLAKY_BOOKING
    patch: Patch | None = None
    body: dict[str, Any] = field(default_factory=dict)  # fields changed after signing the hash
    awaiting: tuple[str, ...] = ("approve",)
    performers: dict[str, str] = field(default_factory=dict)
    done: tuple[str, ...] = ("expansion",)
    used: tuple[str, ...] = ()
    closed: bool = False
    key: SigningKey = KEY
    keys: KeyRegistry = TRUSTED
    tamper: bool = False


def _decide(case: Case) -> str | None:
    rec = _record(case.defn)
    if case.patch is not None:
        case.patch(rec)
    fields: dict[str, Any] = {
        "signature_id": "SIG-00000001",
        "batch_id": rec.batch_id,
        "target": case.target,
        "action": case.action,
        "signer_id": case.signer,
        "printed_name": "Ada Quality",
        "role": case.role,
        "signed_at": NOW,
        "meaning": "approval",
        "reason": case.reason,
        "record_hash": rec.content_hash(),
        "key_id": case.key.key_id,
    }
    decision = case.key.sign(DecisionBody(**{**fields, **case.body}))
    if case.tamper:
        forged = decision.body.model_copy(update={"action": A.REJECT})
        decision = SignedDecision(body=forged, signature=decision.signature)
    return refusal(
        decision,
        record=rec,
        definition=case.defn,
        awaiting_gates=set(case.awaiting),
        performers=case.performers,
        done=set(case.done),
        used_signatures=set(case.used),
        now=NOW,
        max_age=MAX_AGE,
        keys=case.keys,
        closed=case.closed,
    )


CASES: dict[str, Case] = {
    # the signature
    "untrusted key": Case("signature key 'k-rogue' is not trusted by this deployment", key=ROGUE),
    "key not yet valid": Case("signature key 'k-unit' was not valid when it signed", keys=NOT_YET),
    "tampered body": Case("signature does not match the decision it claims to sign", tamper=True),
    "another batch": Case("signature is for batch B-2, not B-1", body={"batch_id": "B-2"}),
    "used twice": Case("signature already used", used=("SIG-00000001",)),
    "too old": Case(
        "signature expired: made 0:10:01 ago",
        body={"signed_at": NOW - MAX_AGE - timedelta(seconds=1)},
    ),
    "from the future": Case(
        "signature expired: made 0:11:00 ago", body={"signed_at": NOW + timedelta(minutes=11)}
    ),
    "just fresh": Case(None, body={"signed_at": NOW - MAX_AGE}),
    "another record version": Case(
        "signature is for another version of the record; review the current one",
        body={"record_hash": "0" * 64},
    ),
    # the batch
    "closed by the workflow": Case("batch is closed", closed=True),
    "completed": Case("batch is closed", patch=_set(completed=True)),
    "abandoned": Case("batch is closed", patch=_set(abandoned_reason="withdrawn")),
    # a gate
    "gate not waiting": Case("nothing awaits a decision at 'approve'", awaiting=()),
    "gate retried": Case("a gate is approved or rejected, not retry", action=A.RETRY),
    "gate by another role": Case(
        "role operator may not decide approve; allowed: qa", role=Role.OPERATOR
    ),
    "gate by its performer": Case(
        "op-1 performed expansion and may not approve it",
        signer="op-1",
        performers={"expansion": "op-1"},
    ),
    "gate rejected by its performer": Case(
        "op-1 performed expansion and may not approve it",
        action=A.REJECT,
        signer="op-1",
        performers={"expansion": "op-1"},
    ),
    "gate by someone else": Case(None, performers={"expansion": "op-1"}),
    "rejection without reason": Case(
        "a rejection needs a written justification", action=A.REJECT, reason="  "
    ),
    "rejection before requires": Case(None, action=A.REJECT, done=()),
    "approval before requires": Case("cannot approve approve before expansion", done=()),
    "requires met by a result": Case(
        None, done=(), patch=lambda r: r.results.update(expansion=_result("expansion", 1.0, True))
    ),
    "approval": Case(None, reason=""),
    # the release gate
    "release with open deviation": Case(
        "cannot release with open deviations",
        target="release",
        defn=RELEASE_JUDGED,
        awaiting=("release",),
        done=("dose",),
        patch=_with_deviation(),
    ),
    "release without results": Case(
        "cannot release: no result yet for dose_vg, vials_needed, sterility",
        target="release",
        defn=RELEASE_JUDGED,
        awaiting=("release",),
        done=("dose",),
    ),
    "release out of specification": Case(
        "cannot release: out of specification without a signed exceptional release: "
        "sterility=positive (limit None)",
        target="release",
        defn=RELEASE_JUDGED,
        awaiting=("release",),
        done=("dose",),
        patch=_released_results("positive"),
    ),
    "release": Case(
        None,
        target="release",
        defn=RELEASE_JUDGED,
        awaiting=("release",),
        done=("dose",),
        patch=_released_results(),
    ),
    # the whole batch
    "batch approved": Case("only abandonment can be decided for the whole batch", target="B-1"),
    "batch withdrawn by an operator": Case(
        "role operator may not withdraw a batch", target="B-1", action=A.ABANDON, role=Role.OPERATOR
    ),
    "batch withdrawn by the physician": Case(
        None, target="B-1", action=A.ABANDON, role=Role.PHYSICIAN, reason=""
    ),
    # a deviation
    "unknown deviation": Case("nothing awaits a decision at 'DEV-9'", target="DEV-9"),
    "disposed deviation": Case(
        "DEV-1 is already disposed of",
        target="DEV-1",
        action=A.RETRY,
        patch=_with_deviation(disposed=True),
    ),
    "deviation by an operator": Case(
        "role operator may not dispose of a deviation",
        target="DEV-1",
        action=A.RETRY,
        role=Role.OPERATOR,
        patch=_with_deviation(),
    ),
    "deviation with an action it does not allow": Case(
        "DEV-1 allows retry, continue, abandon, accept_conditionally, not exceptional_release",
        target="DEV-1",
        action=A.EXCEPTIONAL_RELEASE,
        patch=_with_deviation(),
    ),
    "deviation without reason": Case(
        "a disposition needs a written justification",
        target="DEV-1",
        action=A.RETRY,
        reason=" ",
        patch=_with_deviation(),
    ),
    "deviation retried by a qualified person": Case(
        None, target="DEV-1", action=A.RETRY, role=Role.QUALIFIED_PERSON, patch=_with_deviation()
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_refusal(name: str) -> None:
    case = CASES[name]
    assert _decide(case) == case.expected


def test_target_authority_names_roles_actions_and_meaning() -> None:
    rec = _record(FLAKY_BOOKING)
    rec.deviations.append(_deviation())
    gate = target_authority(FLAKY_BOOKING, rec, "approve")
    assert gate is not None and gate.kind == TargetKind.GATE
    assert (gate.roles, gate.actions, gate.meaning) == (
        (Role.QA,),
        (A.APPROVE, A.REJECT),
        "approval",
    )
    dev = target_authority(FLAKY_BOOKING, rec, "DEV-1")
    assert dev is not None and dev.kind == TargetKind.DEVIATION and set(dev.roles) == QA_ROLES
    assert (
        dev.actions == (A.RETRY, A.CONTINUE, A.ABANDON, A.ACCEPT_CONDITIONALLY)
        and dev.deviation is not None
    )
    batch = target_authority(FLAKY_BOOKING, rec, "B-1")
    assert (
        batch is not None and batch.kind == TargetKind.BATCH and set(batch.roles) == WITHDRAW_ROLES
    )
    assert batch.actions == (A.ABANDON,)
    assert target_authority(FLAKY_BOOKING, rec, "expansion") is None, "not a gate"
    assert target_authority(FLAKY_BOOKING, rec, "nowhere") is None
    assert target_authority(None, rec, "approve") is None, "gates need the definition"


@pytest.mark.parametrize(
    ("target", "role", "expected"),
    [
        ("approve", Role.QA, None),
        ("approve", Role.PHYSICIAN, "role physician may not decide approve; allowed: qa"),
        ("DEV-1", Role.QUALIFIED_PERSON, None),
        ("DEV-1", Role.PHYSICIAN, "role physician may not dispose of a deviation"),
        ("B-1", Role.PHYSICIAN, None),
        ("B-1", Role.ADMIN, "role admin may not withdraw a batch"),
    ],
)
@pytest.mark.requirement("P11-10g")
def test_role_refusal(target: str, role: Role, expected: str | None) -> None:
    rec = _record(FLAKY_BOOKING)
    rec.deviations.append(_deviation())
    authority = target_authority(FLAKY_BOOKING, rec, target)
    assert authority is not None
    assert role_refusal(authority, role) == expected


def test_action_refusal_and_justification() -> None:
    batch = target_authority(FLAKY_BOOKING, _record(FLAKY_BOOKING), "B-1")
    assert batch is not None
    assert action_refusal(batch, A.ABANDON) is None
    assert action_refusal(batch, A.RETRY) == "only abandonment can be decided for the whole batch"
    assert justification_refusal(TargetKind.GATE, A.APPROVE, "") is None
    assert justification_refusal(TargetKind.BATCH, A.ABANDON, "") is None
    assert justification_refusal(TargetKind.DEVIATION, A.CONTINUE, "ok") is None


def _targets(found: list[Authority]) -> list[str]:
    return [a.target for a in found]


def test_open_decisions_follow_roles_performers_and_closure() -> None:
    rec = _record(FLAKY_BOOKING)
    rec.deviations.extend([_deviation("DEV-1"), _deviation("DEV-2", disposed=True)])
    run = StepRun(
        step="expansion", stage="only", state=StepState.DONE, started_at=NOW, performed_by="qa-op"
    )
    rec.steps.append(run)
    assert performers_in(rec) == {"expansion": "qa-op"}

    def mine(*roles: Role, user: str | None = "qa-ada") -> list[str]:
        found = open_decisions(
            FLAKY_BOOKING, rec, awaiting_gates={"approve"}, roles=roles, user_id=user
        )
        return _targets(found)

    assert mine(Role.QA) == ["approve", "DEV-1", "B-1"]
    assert mine(Role.OPERATOR) == []
    assert mine(Role.PHYSICIAN) == ["B-1"]
    assert mine(Role.QA, user="qa-op") == ["DEV-1", "B-1"], "nobody approves their own step"
    assert mine(Role.QA, user=None) == ["approve", "DEV-1", "B-1"]
    assert _targets(
        open_decisions(FLAKY_BOOKING, rec, awaiting_gates=(), roles=[Role.QUALIFIED_PERSON])
    ) == ["DEV-1", "B-1"]
    rec.completed = True
    assert mine(Role.PHYSICIAN) == [], "a closed batch cannot be withdrawn"
    gate = open_decisions(FLAKY_BOOKING, rec, awaiting_gates={"approve"}, roles=[Role.QA])[0]
    assert gate.roles_of([Role.ADMIN, Role.QA]) == (Role.QA,)
