"""`vein2vein record`: export the electronic batch record from the ledger."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from definitions import load_catalog
from vein2vein.cli.common import CliError, command, load_settings, open_ledger, out
from workflows.model import BatchRecord

if TYPE_CHECKING:
    from records import Ledger
    from records.temperature import LegTemperature

record_app = typer.Typer(no_args_is_help=True, help="Electronic batch records.")


def _temperature_legs(led: Ledger, rec: BatchRecord) -> list[LegTemperature]:
    """Each custody leg judged against the batch's pinned definition (when this catalog still
    has it: otherwise ranges show as not known), with the series stored beside the ledger."""
    from records.temperature import handoff_ranges, temperature_legs
    from records.temperature_store import TemperatureStore

    defn = load_catalog(load_settings().extra_definitions).get(rec.product)
    pinned = defn is not None and defn.content_hash == rec.definition_hash
    ranges = handoff_ranges(defn) if defn is not None and pinned else None
    store = TemperatureStore(led.engine)
    # A records database no service or simulated courier has written series to yet has no
    # table for them: the export then shows legs without series instead of failing.
    store.create_schema()
    return temperature_legs(rec, ranges, store.get)


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
    led = open_ledger()
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


@record_app.command("fhir")
@command
def record_fhir(
    batch_id: str,
    resource: str = typer.Option(
        "product", "--resource", help="product (BiologicallyDerivedProduct) or dispense"
    ),
    patient: str | None = typer.Option(
        None, "--patient", help="The patient's pseudonym (dispense only; never a name)."
    ),
    output: Path | None = typer.Option(None, "--out", help="File to write; default stdout."),
) -> None:
    """Export the batch's FHIR R5 BiologicallyDerivedProduct or ...Dispense from the ledger."""
    import json

    from records import (
        RecordNotFound,
        biologically_derived_product,
        biologically_derived_product_dispense,
        load_record,
    )

    if resource not in ("product", "dispense"):
        raise CliError("--resource must be product or dispense")
    if resource == "dispense" and not patient:
        raise CliError("a dispense names its patient: --patient PSEUDONYM")
    try:
        rec = load_record(open_ledger(), batch_id)
    except RecordNotFound as e:
        raise CliError(str(e)) from e
    if resource == "product":
        defn = load_catalog(load_settings().extra_definitions).get(rec.product)
        category = defn.product_category if defn is not None else None
        fhir = biologically_derived_product(rec, category=category)
    else:
        try:
            fhir = biologically_derived_product_dispense(rec, patient_pseudonym=patient or "")
        except ValueError as e:
            raise CliError(str(e).splitlines()[0]) from e
    text = json.dumps(fhir, indent=2) + "\n"
    if output:
        output.write_text(text)
        out.print(f"wrote {output}")
    else:
        sys.stdout.write(text)
