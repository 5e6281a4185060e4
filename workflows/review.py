"""QA's signed review of the batch record before release (review by exception).

QA reviews the record of a running batch (its results, deviations, custody and signatures) and
signs the review like any decision: target `RECORD_REVIEW`, action approve, a QA role, over the
record version they read. A product whose release gate says `record_review=True` may not be
released until such a review stands: one made after the last thing a reviewer must see (a
result, a computed value, a deviation opened or disposed of, a custody transfer, a failed step,
a consumed lot). Anything of that kind recorded after the review makes it stale, and the record
must be reviewed again.

Pure functions of typed values, safe inside the workflow sandbox; `workflows.authority` applies
them to decisions.
"""

from __future__ import annotations

from datetime import datetime

from workflows.definition import CompiledDefinition
from workflows.language import Gate
from workflows.model import AuditAction, AuditEvent, BatchRecord, DecisionAction

#: The decision target of a review of the batch record (never a step name: the compiler
#: refuses a step of that name).
RECORD_REVIEW = "record_review"
#: What a signature on a record review means.
REVIEW_MEANING = "review of the batch record"
#: What a review decides: the reviewer approves the record they read.
REVIEW_ACTIONS: tuple[DecisionAction, ...] = (DecisionAction.APPROVE,)
#: What a reviewer must have seen: any of these after a review makes it stale.
MATERIAL: frozenset[str] = frozenset(
    {
        AuditAction.RESULT_RECORDED,
        AuditAction.VALUE_COMPUTED,
        AuditAction.DEVIATION_OPENED,
        AuditAction.CUSTODY_TRANSFERRED,
        AuditAction.STEP_FAILED,
        AuditAction.LOT_CONSUMED,
        AuditAction.DECISION_RETRY,
        AuditAction.DECISION_CONTINUE,
        AuditAction.DECISION_EXCEPTIONAL_RELEASE,
        AuditAction.DECISION_ACCEPT_CONDITIONALLY,
        AuditAction.DECISION_CONDITIONS_MET,
        AuditAction.DECISION_REWORK,
        AuditAction.REWORK_STARTED,
    }
)


def requires_review(definition: CompiledDefinition | None) -> bool:
    """Whether any release gate of `definition` needs a standing record review."""
    if definition is None:
        return False
    return any(isinstance(s, Gate) and s.release and s.record_review for _, s in definition.steps())


def _reviews(record: BatchRecord) -> list[AuditEvent]:
    return [
        e
        for e in record.audit
        if e.subject == RECORD_REVIEW and e.action == AuditAction.DECISION_APPROVE
    ]


def last_review(record: BatchRecord) -> datetime | None:
    """When the batch accepted its latest record review (workflow time), or None."""
    reviews = _reviews(record)
    return reviews[-1].at if reviews else None


def changed_since_review(record: BatchRecord) -> list[str]:
    """What a reviewer has not seen: material entries after the latest review (all of them when
    there is none), as `action subject`. Ordered by the trail's sequence, not by time: a
    result recorded in the same instant as the review came after it."""
    reviews = _reviews(record)
    after = reviews[-1].seq if reviews else 0
    unseen = [e for e in record.audit if e.action in MATERIAL and e.seq > after]
    return [f"{e.action} {e.subject}" for e in unseen]


def review_refusal(record: BatchRecord) -> str | None:
    """Why a release that needs a record review may not happen yet, or None."""
    if last_review(record) is None:
        return "cannot release before QA reviews the batch record (sign a record_review)"
    unseen = changed_since_review(record)
    if unseen:
        shown = ", ".join(unseen[:3]) + (f" and {len(unseen) - 3} more" if len(unseen) > 3 else "")
        return f"the batch record changed after its review ({shown}); review it again"
    return None


def review_due(definition: CompiledDefinition | None, record: BatchRecord) -> bool:
    """Whether QA should review this batch's record now: its product needs a review before
    release and no review covers what the record holds."""
    return requires_review(definition) and review_refusal(record) is not None
