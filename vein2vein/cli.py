"""The `vein2vein` command line: run the system, inspect definitions, operate batches.

Every command that fails on bad input prints one line starting with `error:` and exits 1,
having changed nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.tree import Tree
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from activities import KNOWN_ACTIVITIES
from activities.adapters import DEFAULT_SITES, SitesConfig
from definitions import load_catalog
from vein2vein.cli_keys import keys_app
from vein2vein.cli_ledger import ledger_app
from vein2vein.settings import Settings

if TYPE_CHECKING:
    from records import Ledger
    from records.temperature import LegTemperature
from workflows.definition import CompiledDefinition, validate
from workflows.diagram import to_mermaid
from workflows.language import Parallel, Repeat, Step
from workflows.model import (
    BatchRecord,
    DecisionAction,
    DecisionBody,
    ExternalEvent,
    Order,
    Role,
)

app = typer.Typer(no_args_is_help=True, help="vein2vein: cell and gene therapy, vein to vein.")
definitions_app = typer.Typer(no_args_is_help=True, help="Inspect and check product definitions.")
batch_app = typer.Typer(no_args_is_help=True, help="Start, watch and decide batches.")
record_app = typer.Typer(no_args_is_help=True, help="Electronic batch records.")
lots_app = typer.Typer(no_args_is_help=True, help="Material lot genealogy.")
app.add_typer(definitions_app, name="definitions")
app.add_typer(batch_app, name="batch")
app.add_typer(ledger_app, name="ledger")
app.add_typer(record_app, name="record")
app.add_typer(lots_app, name="lots")
users_app = typer.Typer(no_args_is_help=True, help="People who sign in and sign decisions.")
tokens_app = typer.Typer(no_args_is_help=True, help="Scoped API tokens for integrations.")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")

# No emoji or markup substitution: user input like "mod:X" must print as typed.
out = Console(emoji=False)
err = Console(stderr=True, emoji=False, highlight=False)
T = TypeVar("T")


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 1."""


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    return typer.Exit(1)


def command(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn expected failures into one line on stderr and exit code 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except CliError as e:
            raise _fail(str(e)) from e
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise _fail(f"invalid input: {where}: {first['msg']}") from e
        except WorkflowUpdateFailedError as e:
            raise _fail(f"refused: {e.cause.message if e.cause else e}") from e  # type: ignore[attr-defined]
        except RPCError as e:
            raise _fail(f"temporal: {e.message}") from e
        except (ConnectionError, OSError) as e:
            raise _fail(f"cannot reach Temporal: {e}") from e

    return wrapper


def _settings() -> Settings:
    return Settings.from_env()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _client() -> Client:
    from vein2vein.observability import make_client_options
    from workflows.client import connect

    s = _settings()
    try:
        return await connect(s.address, s.namespace, **make_client_options(s))
    except RuntimeError as e:
        raise CliError(f"cannot reach Temporal at {s.address}: is `vein2vein dev` running?") from e


def _catalog() -> dict[str, CompiledDefinition]:
    try:
        return load_catalog(_settings().extra_definitions)
    except (ImportError, AttributeError) as e:
        raise CliError(f"VEIN2VEIN_DEFINITIONS: {e}") from e


def _definition(product: str) -> CompiledDefinition:
    catalog = _catalog()
    try:
        return catalog[product]
    except KeyError:
        known = ", ".join(sorted(catalog))
        raise CliError(f"unknown product '{product}'; known: {known}") from None


def _sites() -> SitesConfig:
    s = _settings()
    return SitesConfig.load(s.sites_file) if s.sites_file else DEFAULT_SITES


# -- running ---------------------------------------------------------------------------------


@app.command()
def worker() -> None:
    """Run the worker (embedded Temporal unless TEMPORAL_ADDRESS is set)."""
    from vein2vein.worker import main as run_worker

    run_worker()


@app.command()
def dev(
    demo: bool = typer.Option(False, help="Start demonstration batches and watch them."),
    speed: float = typer.Option(7200.0, help="Simulated seconds per real second."),
    port: int = typer.Option(8000, help="HTTP port of the console and API."),
) -> None:
    """Embedded Temporal, worker, console and demonstration batches, all on loopback."""
    from vein2vein.demo import run_dev

    os.environ.setdefault("VEIN2VEIN_SIM_SPEED", str(speed))
    settings = _settings()
    from vein2vein.observability import configure_logging

    configure_logging("WARNING")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_dev(settings, demo=demo, console=out, http_port=port))
    logging.shutdown()
    sys.stdout.flush()
    # The Temporal runtime's native threads abort interpreter finalisation; exit directly.
    os._exit(0)


# -- definitions -----------------------------------------------------------------------------


@definitions_app.command("list")
@command
def definitions_list() -> None:
    """Every product this deployment runs."""
    table = Table("product", "version", "title", "steps", "hash")
    for d in _catalog().values():
        table.add_row(d.product, d.version, d.title, str(len(list(d.steps()))), d.content_hash[:12])
    out.print(table)


def _tree(node: Tree, step: Step) -> None:
    label = f"[bold]{step.name}[/bold] [dim]{step.kind}[/dim]"
    if step.description:
        label += f" - {step.description}"
    child = node.add(label)
    if isinstance(step, Parallel | Repeat):
        for inner in step.steps:
            _tree(child, inner)


@definitions_app.command("show")
@command
def definitions_show(
    product: str, as_json: bool = typer.Option(False, "--json", help="The compiled definition.")
) -> None:
    """A definition's stages and steps (or its compiled JSON)."""
    d = _definition(product)
    if as_json:
        out.print_json(d.model_dump_json())
        return
    root = Tree(
        f"[bold]{d.product}[/bold] {d.version} - {d.title} [dim]{d.content_hash[:12]}[/dim]"
    )
    for st in d.stages:
        node = root.add(f"[cyan]stage {st.name}[/cyan]")
        for step in st.steps:
            _tree(node, step)
    out.print(root)
    spec = Table("result", "limit")
    for name, limit in d.specification.items():
        spec.add_row(name, limit.describe())
    out.print(spec)


@definitions_app.command("validate")
@command
def definitions_validate(
    ref: str | None = typer.Argument(None, help="module:ATTR to validate; default: the catalog"),
) -> None:
    """Validate definitions; exit 1 listing every rule broken."""
    from workflows.definition import DefinitionError

    if ref is None:
        targets = list(_catalog().values())
    else:
        import importlib

        module_name, _, attr = ref.partition(":")
        try:
            value = getattr(importlib.import_module(module_name), attr)
        except DefinitionError as e:
            raise CliError(str(e).replace("\n", "; ")) from e
        except (ImportError, AttributeError) as e:
            raise CliError(f"cannot load {ref}: {e}") from e
        targets = list(value.values()) if isinstance(value, dict) else [value]
    problems = [str(v) for d in targets for v in validate(d, known_activities=KNOWN_ACTIVITIES)]
    if problems:
        raise CliError("; ".join(problems))
    for d in targets:
        out.print(f"[green]valid[/green] {d.product} {d.version} {d.content_hash[:12]}")


@definitions_app.command("diagram")
@command
def definitions_diagram(product: str) -> None:
    """A Mermaid flowchart of the definition."""
    sys.stdout.write(to_mermaid(_definition(product)))


# -- batches ---------------------------------------------------------------------------------


@batch_app.command("start")
@command
def batch_start(
    product: str,
    order_id: str = typer.Option(..., help="The treatment order's id."),
    pseudonym: str = typer.Option(..., help="Patient pseudonym (never a name)."),
    centre: str = typer.Option("TC-NORTH", help="Treatment centre site id."),
    site: str = typer.Option("MFG-EAST", help="Manufacturing site id."),
    courier: str = typer.Option("COURIER-CRYO", help="Courier site id."),
) -> None:
    """Start a batch of PRODUCT for an order; prints the batch id."""
    from workflows.client import start_batch

    d = _definition(product)
    order = Order(
        order_id=order_id,
        patient_pseudonym=pseudonym,
        treatment_centre=centre,
        manufacturing_site=site,
        courier=courier,
    )
    problems = _sites().check_order(
        {"treatment_centre": centre, "manufacturing_site": site, "courier": courier}
    )
    if problems:
        raise CliError("; ".join(problems))

    async def go() -> str:
        handle = await start_batch(await _client(), d, order)
        return handle.id

    batch_id = _run(go())
    out.print(batch_id)


@batch_app.command("list")
@command
def batch_list(
    status: str | None = typer.Option(None, help="Only batches with this status."),
    product: str | None = typer.Option(None, help="Only batches of this product."),
) -> None:
    """Batches known to Temporal, newest first."""
    from workflows.interpreter import SA_COI, SA_PRODUCT, SA_STAGE, SA_STATUS

    clauses = ["BatchProduct IS NOT NULL"]
    if status:
        clauses.append(f"BatchStatus = '{_quote(status)}'")
    if product:
        clauses.append(f"BatchProduct = '{_quote(product)}'")

    async def go() -> Table:
        table = Table("batch", "product", "status", "stage", "COI", "started")
        async for wf in (await _client()).list_workflows(" AND ".join(clauses)):
            sa = wf.typed_search_attributes
            table.add_row(
                wf.id,
                sa.get(SA_PRODUCT) or "",
                sa.get(SA_STATUS) or "",
                sa.get(SA_STAGE) or "",
                sa.get(SA_COI) or "",
                wf.start_time.strftime("%Y-%m-%d %H:%M"),
            )
        return table

    out.print(_run(go()))


def _quote(value: str) -> str:
    if not value.replace("-", "").replace("_", "").isalnum():
        raise CliError(f"invalid filter value {value!r}")
    return value


async def _record(batch_id: str) -> BatchRecord:
    from workflows.client import get_record

    return await get_record(await _client(), batch_id)


def print_record(rec: BatchRecord, console: Console) -> None:
    """The batch record as a person reads it in a terminal."""
    console.print(
        f"[bold]{rec.batch_id}[/bold] {rec.product} {rec.definition_version} "
        f"status [bold]{rec.status.value}[/bold] stage {rec.stage or '-'} COI {rec.coi or '-'}"
    )
    if rec.waiting_for:
        console.print("waiting for: " + "; ".join(rec.waiting_for))
    if rec.next_deadline:
        console.print(f"next deadline: {rec.next_deadline:%Y-%m-%d %H:%M} UTC")
    steps = Table("step", "stage", "#", "state", "started", "ended", "by", title="timeline")
    for s in rec.steps:
        steps.add_row(
            s.step,
            s.stage,
            str(s.iteration),
            s.state.value,
            f"{s.started_at:%m-%d %H:%M}",
            f"{s.ended_at:%m-%d %H:%M}" if s.ended_at else "",
            s.performed_by or "",
        )
    console.print(steps)
    if rec.custody:
        custody = Table("step", "from", "to", "at", "identity", "label", "temp C", title="custody")
        for c in rec.custody:
            t = c.temperature
            custody.add_row(
                c.step,
                c.from_party,
                c.to_party,
                f"{c.at:%m-%d %H:%M}",
                "ok" if c.identity_verified else "MISMATCH",
                "ok" if c.label_verified else "MISMATCH",
                f"{t.min_c:g}..{t.max_c:g}" if t else "",
            )
        console.print(custody)
    if rec.results:
        results = Table("result", "value", "limit", "verdict", title="results")
        for r in rec.results.values():
            verdict = {True: "in spec", False: "OOS", None: "-"}[r.in_specification]
            results.add_row(r.name, f"{r.value} {r.unit}", r.limit or "", verdict)
        console.print(results)
    if rec.deviations:
        devs = Table("id", "kind", "step", "description", "disposition", title="deviations")
        for d in rec.deviations:
            disp = (
                f"{d.disposition.value} by {d.disposed_by}: {d.reason}" if d.disposition else "OPEN"
            )
            devs.add_row(d.deviation_id, d.kind.value, d.step, d.description, disp)
        console.print(devs)
    if rec.signatures:
        sigs = Table("target", "action", "signer", "role", "meaning", "at", title="signatures")
        for sig in rec.signatures:
            sigs.add_row(
                sig.target,
                sig.action.value,
                sig.printed_name,
                sig.role.value,
                sig.meaning,
                f"{sig.signed_at:%Y-%m-%d %H:%M}",
            )
        console.print(sigs)


@batch_app.command("show")
@command
def batch_show(
    batch_id: str, as_json: bool = typer.Option(False, "--json", help="The raw record.")
) -> None:
    """A batch's record: timeline, custody, results, deviations and signatures."""
    rec = _run(_record(batch_id))
    if as_json:
        out.print_json(rec.model_dump_json())
    else:
        print_record(rec, out)


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
    event = ExternalEvent.model_validate(data)

    async def go() -> str:
        ack = await report_event(await _client(), event)
        return "duplicate (ignored)" if ack.duplicate else "accepted"

    out.print(_run(go()))


def _sign_and_submit(
    batch_id: str,
    target: str,
    action: DecisionAction,
    *,
    signer: str,
    name: str | None,
    role: Role,
    meaning: str,
    reason: str,
) -> None:
    import secrets
    from datetime import UTC, datetime

    from vein2vein.keys import deployment_signing_key
    from vein2vein.signing import SignerRefused, authenticate_signer
    from workflows.client import decide

    settings = _settings()
    try:
        name = authenticate_signer(settings, signer, role) if name is None else name
    except SignerRefused as e:
        raise CliError(f"signature refused: {e}") from e
    key = deployment_signing_key(settings)

    async def go() -> str:
        client = await _client()
        from workflows.client import get_record

        rec = await get_record(client, batch_id)
        body = DecisionBody(
            signature_id=f"SIG-{secrets.token_hex(8)}",
            batch_id=batch_id,
            target=target,
            action=action,
            signer_id=signer,
            printed_name=name,
            role=role,
            signed_at=datetime.now(UTC),
            meaning=meaning,
            reason=reason,
            record_hash=rec.record_hash,
            key_id=key.key_id,
        )
        receipt = await decide(client, batch_id, key.sign(body))
        return f"{receipt.action.value} recorded on {receipt.target}; status {receipt.status.value}"

    out.print(_run(go()))


@batch_app.command("decide")
@command
def batch_decide(
    batch_id: str,
    target: str = typer.Argument(..., help="Gate step name, or deviation id (DEV-n)."),
    action: DecisionAction = typer.Argument(..., help="approve|reject|retry|continue|..."),
    signer: str = typer.Option(..., help="Your user id (your password is asked again)."),
    role: Role = typer.Option(..., help="The role you sign in."),
    reason: str = typer.Option("", help="Justification (required for anything but approve)."),
    meaning: str = typer.Option("approval", help="What the signature means."),
) -> None:
    """Approve or reject a gate, or dispose of a deviation, with an electronic signature."""
    _sign_and_submit(
        batch_id,
        target,
        action,
        signer=signer,
        name=None,
        role=role,
        meaning=meaning,
        reason=reason,
    )


@batch_app.command("abandon")
@command
def batch_abandon(
    batch_id: str,
    reason: str = typer.Option(..., help="Why the batch is withdrawn."),
    signer: str = typer.Option(..., help="Your user id (your password is asked again)."),
    role: Role = typer.Option(Role.QA, help="qa, qualified_person or physician."),
) -> None:
    """Withdraw a batch: its compensations run in reverse."""
    _sign_and_submit(
        batch_id,
        batch_id,
        DecisionAction.ABANDON,
        signer=signer,
        name=None,
        role=role,
        meaning="withdrawal",
        reason=reason,
    )


# -- records ---------------------------------------------------------------------------------


def _ledger() -> Any:
    from records import Ledger

    led = Ledger.from_url(_settings().ledger)
    led.create_schema()
    return led


def _temperature_legs(led: Ledger, rec: BatchRecord) -> list[LegTemperature]:
    """Each custody leg judged against the batch's pinned definition (when this catalog still
    has it: otherwise ranges show as not known), with the series stored beside the ledger."""
    from records.temperature import handoff_ranges, temperature_legs
    from records.temperature_store import TemperatureStore

    defn = load_catalog(_settings().extra_definitions).get(rec.product)
    pinned = defn is not None and defn.content_hash == rec.definition_hash
    ranges = handoff_ranges(defn) if defn is not None and pinned else None
    return temperature_legs(rec, ranges, TemperatureStore(led.engine).get)


@record_app.command("export")
@command
def record_export(
    batch_id: str,
    fmt: str = typer.Option("html", "--format", help="html or json"),
    output: Path | None = typer.Option(None, "--out", help="File to write; default stdout."),
) -> None:
    """Export the electronic batch record from the ledger (works after Temporal forgot it)."""
    from records import RecordNotFound, load_record, render_html, render_json

    if fmt not in ("html", "json"):
        raise CliError("--format must be html or json")
    led = _ledger()
    try:
        rec = load_record(led, batch_id)
    except RecordNotFound as e:
        raise CliError(str(e)) from e
    verification = led.verify(batch_id)
    legs = _temperature_legs(led, rec)
    text = (
        render_html(rec, verification=verification, legs=legs)
        if fmt == "html"
        else render_json(rec, verification=verification, legs=legs)
    )
    if output:
        output.write_text(text)
        out.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@lots_app.command("where-used")
@command
def lots_where_used(lot: str) -> None:
    """Every batch and COI that consumed LOT."""
    uses = _ledger().where_used(lot)
    table = Table("batch", "COI", "step", "at")
    for u in uses:
        table.add_row(u.batch_id, u.coi or "", u.step, f"{u.at:%Y-%m-%d %H:%M}")
    out.print(table)
    if not uses:
        out.print(f"no batch consumed {lot}")


@lots_app.command("recall")
@command
def lots_recall(
    lot: str,
    reason: str = typer.Option(..., help="Why the lot is recalled."),
    by: str = typer.Option(..., help="Who requests the recall."),
) -> None:
    """Hold every batch that consumed LOT and is not yet infused (opens a deviation each)."""
    import secrets

    from workflows.client import recall_lot
    from workflows.model import LotRecall

    uses = [(u.batch_id, u.coi) for u in _ledger().where_used(lot)]
    if not uses:
        raise CliError(f"no batch consumed {lot}")
    recall = LotRecall(
        recall_id=f"RCL-{secrets.token_hex(6)}", lot=lot, reason=reason, requested_by=by
    )

    async def go() -> list[Any]:
        return await recall_lot(await _client(), uses, recall)

    table = Table("batch", "COI", "held", "why", title=f"recall {recall.recall_id} of {lot}")
    for o in _run(go()):
        table.add_row(o.batch_id, o.coi or "", "yes" if o.held else "no", o.reason)
    out.print(table)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8000, help="HTTP port of the console and API."),
) -> None:
    """Run the console and integration API against TEMPORAL_ADDRESS (or the embedded default)."""
    from vein2vein.observability import configure_logging
    from vein2vein.service import serve as serve_http

    settings = _settings()
    configure_logging(settings.log_level)

    async def go() -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_http(settings, stop, host, port)

    asyncio.run(go())


@users_app.command("add")
@command
def users_add(
    user_id: str,
    name: str = typer.Option(..., help="Printed name, as signatures show it."),
    role: list[Role] = typer.Option(..., help="A role; repeat for several."),
) -> None:
    """Add a user; the password is asked twice."""
    from vein2vein.service import admin

    password = _new_password()
    user = admin.add_user(_settings().data_dir, user_id, name, role, password)
    out.print(f"added {user.user_id} ({', '.join(r.value for r in user.roles)})")


def _new_password() -> str:
    import getpass

    first = getpass.getpass("new password: ")
    if first != getpass.getpass("again: "):
        raise CliError("the passwords differ")
    return first


@users_app.command("passwd")
@command
def users_passwd(user_id: str) -> None:
    """Set a user's password (ends their console sessions)."""
    from vein2vein.service import admin

    admin.set_password(_settings().data_dir, user_id, _new_password())
    out.print(f"password changed for {user_id}")


@users_app.command("unlock")
@command
def users_unlock(user_id: str, by: str = typer.Option(..., help="The admin unlocking.")) -> None:
    """Unlock a signer locked after three failed attempts."""
    from vein2vein.service import admin

    s = _settings()
    changed = admin.unlock_user(s.data_dir, user_id, by=by, db_url=s.ledger)
    out.print(f"{user_id} unlocked" if changed else f"{user_id} was not locked")


@users_app.command("list")
@command
def users_list() -> None:
    """Every user and their roles."""
    from vein2vein.service import admin

    table = Table("user", "printed name", "roles")
    for u in admin.list_users(_settings().data_dir):
        table.add_row(u.user_id, u.printed_name, ", ".join(r.value for r in u.roles))
    out.print(table)


@tokens_app.command("create")
@command
def tokens_create(
    client_name: str,
    scope: list[str] = typer.Option(
        ..., help="read, orders, custody, hospital, mes, results, tasks"
    ),
) -> None:
    """Create a scoped API token; it is shown once."""
    from vein2vein.service import admin

    out.print(admin.create_token(_settings().data_dir, client_name, scope))


@tokens_app.command("revoke")
@command
def tokens_revoke(client_or_token_id: str) -> None:
    """Revoke a client's tokens (or one token by id)."""
    from vein2vein.service import admin

    n = admin.revoke_token(_settings().data_dir, client_or_token_id)
    if n == 0:
        raise CliError(f"no token matches {client_or_token_id}")
    out.print(f"revoked {n} token(s)")


@tokens_app.command("list")
@command
def tokens_list() -> None:
    """Tokens by client and scope (never the secret)."""
    from vein2vein.service import admin

    table = Table("token", "client", "scopes", "created", "state")
    for t in admin.list_tokens(_settings().data_dir):
        table.add_row(
            t.token_id,
            t.client,
            ", ".join(t.scopes),
            f"{t.created_at:%Y-%m-%d %H:%M}",
            "active" if t.active else f"revoked {t.revoked_at:%Y-%m-%d}",
        )
    out.print(table)


def main() -> None:
    """Console-script entry point."""
    app()
