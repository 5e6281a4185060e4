"""What a person may decide on a batch now: the console's links and forms and the inbox.

Built from the rules of `workflows.authority`; pure, like them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from workflows import exceptional
from workflows.authority import (
    QA_ROLES,
    WITHDRAW_ROLES,
    Authority,
    deviation_authority,
    gate_at,
    gate_authority,
    is_closed,
    review_authority,
    self_approval_refusal,
    withdrawal_authority,
)
from workflows.definition import CompiledDefinition
from workflows.model import BatchRecord, Role
from workflows.review import review_due


def performers_in(record: BatchRecord) -> dict[str, str]:
    """Who performed each finished step, as the record shows it (step name to user id)."""
    return {run.step: run.performed_by for run in record.steps if run.performed_by}


def open_decisions(
    definition: CompiledDefinition | None,
    record: BatchRecord,
    *,
    awaiting_gates: Collection[str],
    roles: Iterable[Role],
    user_id: str | None = None,
    performers: Mapping[str, str] | None = None,
) -> list[Authority]:
    """The decisions a person holding `roles` (signing as `user_id`) could make on the batch
    now: each waiting gate one of their roles may decide and that they performed nothing for;
    if they are QA, each open deviation, each accepted on conditions not yet confirmed met,
    and a record review due before a waiting release (a
    physician: each open deviation that may be released exceptionally and that nobody has
    requested it for yet); and withdrawal while the batch is open. `performers` defaults to
    those the record shows."""
    mine = set(roles)
    done_by = performers_in(record) if performers is None else performers
    found: list[Authority] = []
    for name in sorted(awaiting_gates):
        gate = gate_at(definition, name)
        if gate is None or not mine & set(gate.roles):
            continue
        if user_id is not None and self_approval_refusal(gate, user_id, done_by) is not None:
            continue
        found.append(gate_authority(gate))
    if mine & QA_ROLES:
        found.extend(
            deviation_authority(d) for d in [*record.open_deviations(), *record.unmet_conditions()]
        )
        # Due when a release that needs it waits: earlier, the record is still growing.
        releasing = [gate_at(definition, n) for n in awaiting_gates]
        if any(g is not None and g.release and g.record_review for g in releasing) and review_due(
            definition, record
        ):
            found.append(review_authority())
    elif exceptional.REQUESTING_ROLE in mine:
        found.extend(
            deviation_authority(d)
            for d in record.open_deviations()
            if exceptional.may_be_requested(d)
            and exceptional.physician_request(record, d.deviation_id) is None
        )
    if not is_closed(record) and mine & WITHDRAW_ROLES:
        found.append(withdrawal_authority(record.batch_id))
    return found
