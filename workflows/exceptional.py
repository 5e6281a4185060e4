"""Exceptional release of an out-of-specification product: only at a physician's signed request.

A product out of specification may still go to its patient when the treating physician judges
the benefit greater than the risk (e.g. no other therapy is left). QA's disposition
`exceptional_release` of a deviation is accepted only once a physician has signed a request on
that deviation: the same kind of decision (target the deviation, action `exceptional_release`)
signed in the physician role, meaning `REQUEST_MEANING`, with the clinical justification as its
reason. The request is kept on the batch (a signature and an audit entry) and leaves the
deviation open: deciding it stays QA's.

Pure functions of typed values, safe inside the workflow sandbox; `workflows.authority` applies
them to decisions.
"""

from __future__ import annotations

from workflows.model import BatchRecord, DecisionAction, DecisionBody, Deviation, Role, Signature

#: What a physician's signature on a deviation means.
REQUEST_MEANING = "request for exceptional release"
#: The role that requests (never disposes).
REQUESTING_ROLE = Role.PHYSICIAN


def is_request(body: DecisionBody) -> bool:
    """Whether `body`, a decision on a deviation, is a physician's (a request, if anything)."""
    return body.role == REQUESTING_ROLE


def may_be_requested(deviation: Deviation) -> bool:
    """Whether the deviation allows exceptional release at all."""
    return DecisionAction.EXCEPTIONAL_RELEASE in deviation.allowed


def request_refusal(deviation: Deviation, body: DecisionBody) -> str | None:
    """Why a physician's decision on `deviation` is not an acceptable request, or None."""
    if body.action != DecisionAction.EXCEPTIONAL_RELEASE:
        return "a physician may request exceptional release of a deviation; QA disposes of it"
    if not may_be_requested(deviation):
        return f"{deviation.deviation_id} cannot be released exceptionally"
    if not body.reason.strip():
        return "a request for exceptional release needs the clinical justification"
    return None


def physician_request(record: BatchRecord, deviation_id: str) -> Signature | None:
    """The physician's signed request for exceptional release of `deviation_id`, or None."""
    return next(
        (
            s
            for s in record.signatures
            if s.target == deviation_id
            and s.role == REQUESTING_ROLE
            and s.action == DecisionAction.EXCEPTIONAL_RELEASE
        ),
        None,
    )


def missing_request(record: BatchRecord, deviation: Deviation) -> str | None:
    """Why QA may not yet release `deviation` exceptionally: no physician has asked."""
    if physician_request(record, deviation.deviation_id) is None:
        return (
            f"exceptional release of {deviation.deviation_id} needs the requesting "
            "physician's signed request first"
        )
    return None
