"""`gate`: a human decision, e-signed by one of the roles named; a release gate releases.

Who may decide what is checked before the decision reaches the workflow (the `decide`
update's validator, `workflows.engine.messages`); here the batch waits for it and applies it.
"""

from __future__ import annotations

from workflows.engine import calls, journal
from workflows.engine.context import StepContext
from workflows.engine.errors import Abandon
from workflows.language import Gate
from workflows.model import AuditAction, DecisionAction


async def run(ctx: StepContext, step: Gate) -> None:
    """Await the signed decision; a rejection abandons, a release approval releases."""
    state = ctx.state
    state.gates[step.name] = None
    journal.refresh(state)
    try:
        await calls.wait(state, lambda: state.gates.get(step.name) is not None)
    finally:
        decision = state.gates.pop(step.name, None)
        journal.refresh(state)
    assert decision is not None
    if decision.body.action == DecisionAction.REJECT:
        raise Abandon(f"rejected at {step.name} by {decision.body.printed_name}")
    if step.release:
        state.rec.released = True
        journal.audit(state, decision.body.signer_id, AuditAction.BATCH_RELEASED, step.name)
