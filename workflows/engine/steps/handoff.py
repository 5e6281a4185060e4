"""`handoff`: a custody transfer the receiver verifies against the COI and the container
label, with its temperature evidence judged against the declared range."""

from __future__ import annotations

from temporalio import workflow

from workflows.coi import is_valid_coi
from workflows.engine import calls, journal
from workflows.engine.context import StepContext
from workflows.engine.errors import CONTINUE_OR_ABANDON, RETRY_OR_ABANDON, StepFailed
from workflows.judgement import Finding, judge_temperature, legacy_excursion
from workflows.language import Handoff
from workflows.model import AuditAction, CustodyEntry, DeviationKind, TemperatureSummary

#: Asked where the temperature-evidence rules (issue 9) and the rule before them disagree, so
#: histories recorded before them replay as they ran.
PATCH_TEMPERATURE = "temperature-evidence-judged"


async def run(ctx: StepContext, step: Handoff) -> None:
    """Wait for the receiver's scan; record the custody entry; judge identity, then cold chain."""
    state = ctx.state
    event = await calls.ask_and_wait(
        state,
        step.name,
        "custody",
        step.ask,
        step.deadline,
        extra={
            "from_party": step.from_party,
            "to_party": step.to_party,
            "container": step.container,
        },
    )
    rep = event.custody
    if rep is None:  # the update validator refuses this; kept for replay safety
        raise StepFailed(DeviationKind.STEP_FAILED, "no custody report", RETRY_OR_ABANDON)
    rec = state.rec
    expected_label = f"{rec.coi}-{step.container}"
    identity_ok = is_valid_coi(rep.scanned_coi) and rep.scanned_coi == rec.coi
    label_ok = rep.container_label == expected_label
    entry = CustodyEntry(
        step=step.name,
        from_party=rep.from_party,
        to_party=rep.to_party,
        at=event.occurred_at,
        location=rep.location,
        container_label=rep.container_label,
        scanned_coi=rep.scanned_coi,
        identity_verified=identity_ok,
        label_verified=label_ok,
        temperature=rep.temperature,
    )
    rec.custody.append(entry)
    state.performers[step.name] = event.reporter
    journal.audit(
        state,
        event.reporter,
        AuditAction.CUSTODY_TRANSFERRED,
        step.name,
        new=f"{rep.from_party} -> {rep.to_party} at {rep.location}; "
        f"identity {'verified' if identity_ok else 'MISMATCH'}, "
        f"label {'verified' if label_ok else 'MISMATCH'}",
    )
    if not (identity_ok and label_ok):
        raise StepFailed(
            DeviationKind.IDENTITY_MISMATCH,
            f"scanned COI/label {rep.scanned_coi}/{rep.container_label} "
            f"do not match {rec.coi}/{expected_label}",
            RETRY_OR_ABANDON,
        )
    finding = temperature_finding(step, rep.temperature)
    if finding is not None:
        raise StepFailed(finding.kind, finding.description, CONTINUE_OR_ABANDON)


def temperature_finding(step: Handoff, summary: TemperatureSummary | None) -> Finding | None:
    """The leg's temperature verdict; batches recorded before the evidence rules keep the
    verdict they had (the patch is asked only where the two rules disagree)."""
    if step.temperature is None:
        return None
    finding = judge_temperature(step.temperature, summary)
    legacy = legacy_excursion(step.temperature, summary)
    agree = (finding is None) == (legacy is None) and (
        finding is None or (legacy is not None and finding.kind == legacy.kind)
    )
    if agree or workflow.patched(PATCH_TEMPERATURE):
        return finding
    return legacy
