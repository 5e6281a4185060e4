"""`vein2vein batch`: start, list, show, report events to and decide batches.

Decisions (`decide`, `abandon`) are signed with the deployment's key after the signer's
password is asked again.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from vein2vein.cli.common import (
    CliError,
    catalog,
    command,
    definition,
    load_settings,
    open_ledger,
    out,
    run,
    sites,
    temporal_client,
)
from vein2vein.cli.signing import sign_and_submit
from vein2vein.readable import number, quantity, remaining, when
from workflows.authority import WITHDRAW_ROLES
from workflows.model import (
    BatchRecord,
    BatchStatus,
    DecisionAction,
    ExternalEvent,
    Order,
    Role,
    Severity,
)

batch_app = typer.Typer(no_args_is_help=True, help="Start, watch and decide batches.")


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs = [v.partition("=") for v in values]
    bad = [v for v, (_, eq, right) in zip(values, pairs, strict=True) if not eq or not right]
    if bad:
        raise CliError(f"{flag} takes NAME=VALUE, not {', '.join(bad)}")
    return {k.strip(): v.strip() for k, _, v in pairs}


@batch_app.command("start")
@command
def batch_start(
    product: str,
    order_id: str = typer.Option(..., help="The treatment order's id."),
    pseudonym: str = typer.Option(..., help="Patient pseudonym (never a name)."),
    centre: str = typer.Option("TC-NORTH", help="Site of the treatment_centre party."),
    site: str = typer.Option("MFG-EAST", help="Site of the manufacturing_site party."),
    courier: str = typer.Option("COURIER-CRYO", help="Site of the courier party."),
    party: list[str] = typer.Option(
        [], "--party", help="PARTY=SITE for any party of the product (repeatable)."
    ),
    option: list[str] = typer.Option(
        [], "--option", help="NAME=CHOICE for an option of the product (repeatable)."
    ),
    weight_kg: float | None = typer.Option(
        None, "--weight-kg", help="Body weight, for products that compute a dose from it."
    ),
    window_start: datetime | None = typer.Option(
        None, "--window-start", help="Treatment window opens (ISO date or time, UTC)."
    ),
    window_end: datetime | None = typer.Option(
        None, "--window-end", help="Treatment window closes (ISO date or time, UTC)."
    ),
) -> None:
    """Start the one batch of an order for PRODUCT; prints the batch id."""
    from records.approvals import Approvals
    from vein2vein.service.orders import NotApproved, OrderStore, OrderTaken, start_order

    d = definition(product)
    classic = {"treatment_centre": centre, "manufacturing_site": site, "courier": courier}
    named = {p: s for p, s in classic.items() if p in d.party_kinds()}
    order = Order(
        order_id=order_id,
        patient_pseudonym=pseudonym,
        sites={**named, **_pairs(party, "--party")},
        options=_pairs(option, "--option"),
        weight_kg=weight_kg,
        treatment_window_start=_utc(window_start),
        treatment_window_end=_utc(window_end),
    )
    problems = sites().order_problems(d, order)
    if problems:
        raise CliError("; ".join(problems))
    settings = load_settings()
    store = OrderStore(settings.ledger)
    approvals = Approvals(open_ledger()) if settings.require_approval else None

    async def go() -> str:
        client = await temporal_client()
        try:
            handle = await start_order(client, store, d, order, by=_operator(), approvals=approvals)
        except (OrderTaken, NotApproved) as e:
            raise CliError(str(e)) from e
        return handle.id

    batch_id = run(go())
    out.print(batch_id)


@batch_app.command("list")
@command
def batch_list(
    status: str | None = typer.Option(None, help="Only batches with this status."),
    product: str | None = typer.Option(None, help="Only batches of this product."),
) -> None:
    """Batches known to Temporal, newest first."""
    from workflows.engine.search import SA_COI, SA_PRODUCT, SA_STAGE, SA_STATUS

    clauses = ["BatchProduct IS NOT NULL"]
    statuses = [s.value for s in BatchStatus]
    if status and status not in statuses:
        raise CliError(f"unknown status '{status}'; known: {', '.join(statuses)}")
    if product and product not in catalog():
        raise CliError(f"unknown product '{product}'; known: {', '.join(sorted(catalog()))}")
    if status:
        clauses.append(f"BatchStatus = '{_quote(status)}'")
    if product:
        clauses.append(f"BatchProduct = '{_quote(product)}'")
    tz = load_settings().time_zone

    async def go() -> Table:
        table = Table("batch", "product", "status", "stage", "COI", "started")
        async for wf in (await temporal_client()).list_workflows(" AND ".join(clauses)):
            sa = wf.typed_search_attributes
            table.add_row(
                wf.id,
                sa.get(SA_PRODUCT) or "",
                sa.get(SA_STATUS) or "",
                sa.get(SA_STAGE) or "",
                sa.get(SA_COI) or "",
                when(wf.start_time, tz),
            )
        return table

    out.print(run(go()))


def _utc(at: datetime | None) -> datetime | None:
    """A moment typed on the command line: without a zone it is UTC, as the engine works."""
    if at is None:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _operator() -> str:
    """Who starts a batch from this terminal (recorded with the order, never the patient)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a bare container
        return "cli"


def _quote(value: str) -> str:
    if not value.replace("-", "").replace("_", "").isalnum():
        raise CliError(f"invalid filter value {value!r}")
    return value


async def _record(batch_id: str) -> BatchRecord:
    from workflows.client import get_record

    return await get_record(await temporal_client(), batch_id)


def print_record(rec: BatchRecord, console: Console, tz: str = "UTC") -> None:
    """The batch record as a person reads it in a terminal, times in zone `tz`."""

    def at(moment: datetime | None) -> str:
        return when(moment, tz)

    console.print(
        f"[bold]{rec.batch_id}[/bold] {rec.product} {rec.definition_version} "
        f"status [bold]{rec.status.value}[/bold] stage {rec.stage or '-'} COI {rec.coi or '-'}"
    )
    if rec.next_deadline:
        console.print(f"next deadline: {at(rec.next_deadline)}")
    if rec.awaiting:
        awaits = Table("waiting for", "since", "deadline", "who may decide", title="awaiting")
        for a in rec.awaiting:
            awaits.add_row(a.label(), at(a.since), at(a.deadline), ", ".join(a.roles))
        console.print(awaits)
    if rec.clocks:
        clocks = Table("clock", "kind", "limit", "remaining", title="running clocks")
        for clock in rec.clocks:
            clocks.add_row(
                clock.name, clock.kind.value, at(clock.limit), remaining(clock.remaining)
            )
        console.print(clocks)
    steps = Table("step", "stage", "#", "state", "started", "ended", "by", title="timeline")
    for s in rec.steps:
        steps.add_row(
            s.step,
            s.stage,
            str(s.iteration),
            s.state.value,
            at(s.started_at),
            at(s.ended_at),
            s.performed_by or "",
        )
    console.print(steps)
    if rec.custody:
        custody = Table("step", "from", "to", "at", "identity", "label", "temp °C", title="custody")
        for c in rec.custody:
            t = c.temperature
            custody.add_row(
                c.step,
                c.from_party,
                c.to_party,
                at(c.at),
                "ok" if c.identity_verified else "MISMATCH",
                "ok" if c.label_verified else "MISMATCH",
                f"{number(t.min_c)} to {number(t.max_c)}" if t else "",
            )
        console.print(custody)
    if rec.results:
        results = Table("result", "value", "limit", "verdict", title="results")
        for r in rec.results.values():
            verdict = {True: "in spec", False: "OOS", None: "-"}[r.in_specification]
            results.add_row(r.name, quantity(r.value, r.unit), r.limit or "", verdict)
        console.print(results)
    if rec.deviations:
        devs = Table("id", "kind", "step", "description", "disposition", title="deviations")
        for d in rec.deviations:
            # Who signed, when and why is in the signatures table: each fact printed once.
            disp = d.disposition.value if d.disposition else "OPEN"
            if d.terms():
                disp = f"{disp}, {d.terms()}"
            devs.add_row(d.deviation_id, d.kind.value, d.step, d.description, disp)
        console.print(devs)
    if rec.signatures:
        sigs = Table(
            "target", "action", "signer", "role", "meaning", "reason", "at", title="signatures"
        )
        for sig in rec.signatures:
            sigs.add_row(
                sig.target,
                sig.action.value,
                sig.printed_name,
                sig.role.value,
                sig.meaning,
                sig.reason,
                at(sig.signed_at),
            )
        console.print(sigs)


@batch_app.command("show")
@command
def batch_show(
    batch_id: str, as_json: bool = typer.Option(False, "--json", help="The raw record.")
) -> None:
    """A batch's record: timeline, custody, results, deviations and signatures."""
    rec = run(_record(batch_id))
    if as_json:
        out.print_json(rec.model_dump_json())
    else:
        print_record(rec, out, load_settings().time_zone)


@batch_app.command("event")
@command
def batch_event(
    batch_id: str,
    event_json: str = typer.Argument(..., help="ExternalEvent JSON, or - to read stdin."),
) -> None:
    """Report an outside-world event for a batch (as an integration service would)."""
    from workflows.client import report_event

    raw = sys.stdin.read() if event_json == "-" else event_json
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CliError(f"malformed JSON: {e}") from e
    if not isinstance(data, dict):
        raise CliError("the event must be a JSON object")
    data.setdefault("batch_id", batch_id)
    data.setdefault("reporter", _operator())  # as the API defaults it to the caller
    event = ExternalEvent.model_validate(data)

    async def go() -> str:
        ack = await report_event(await temporal_client(), event)
        return "duplicate (ignored)" if ack.duplicate else "accepted"

    out.print(run(go()))


@batch_app.command("decide")
@command
def batch_decide(
    batch_id: str,
    target: str = typer.Argument(..., help="Gate step name, or deviation id (DEV-n)."),
    action: DecisionAction = typer.Argument(..., help="approve|reject|retry|continue|..."),
    signer: str = typer.Option(..., help="Your user id (your password is asked again)."),
    role: Role = typer.Option(..., help="The role you sign in."),
    reason: str = typer.Option("", help="Justification (required for anything but approve)."),
    meaning: str | None = typer.Option(
        None, help="What the signature means (default: the gate's meaning, or the disposition)."
    ),
    severity: Severity | None = typer.Option(
        None, help="A deviation's classification: minor, major or critical."
    ),
    capa: str | None = typer.Option(
        None, help="The CAPA a major or critical deviation's disposition names."
    ),
    conditions: str | None = typer.Option(
        None, help="What an accept_conditionally waits for before release."
    ),
    rework_to: str | None = typer.Option(
        None, "--rework-to", help="The step a rework sends the batch back to."
    ),
) -> None:
    """Approve or reject a gate, or dispose of a deviation, with an electronic signature."""
    sign_and_submit(
        batch_id,
        target,
        action,
        signer=signer,
        role=role,
        meaning=meaning,
        reason=reason,
        severity=severity,
        capa=capa,
        conditions=conditions,
        rework_to=rework_to,
    )


@batch_app.command("abandon")
@command
def batch_abandon(
    batch_id: str,
    reason: str = typer.Option(..., help="Why the batch is withdrawn."),
    signer: str = typer.Option(..., help="Your user id (your password is asked again)."),
    role: Role = typer.Option(
        Role.QA, help="The role you sign in: " + ", ".join(sorted(WITHDRAW_ROLES)) + "."
    ),
) -> None:
    """Withdraw a batch: its compensations run in reverse."""
    sign_and_submit(
        batch_id,
        batch_id,
        DecisionAction.ABANDON,
        signer=signer,
        role=role,
        meaning=None,
        reason=reason,
    )
