"""`vein2vein validate`: installation qualification, printed as a table and written as a
report (JSON) for the validation file; exit 1 when any check fails."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vein2vein.cli.common import CliError, command, load_settings, out, run


@command
def validate(
    report: Path | None = typer.Option(
        None, "--report", help="Where to write the report (default: <data dir>/qualification/)."
    ),
) -> None:
    """Installation qualification: versions, ledger triggers, key file permissions, Temporal
    and its search attributes, the definition lock and approvals; writes an IQ report."""
    from vein2vein.qualification import qualify

    settings = load_settings()
    found = run(qualify(settings))
    table = Table("check", "result", "detail", title=f"installation qualification ({found.host})")
    for c in found.checks:
        table.add_row(c.name, "[green]pass[/green]" if c.ok else "[red]FAIL[/red]", c.detail)
    out.print(table)
    target = report or (settings.data_dir / "qualification" / f"IQ-{found.at:%Y%m%dT%H%M%SZ}.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(found.model_dump_json(indent=2) + "\n")
    out.print(f"report: {target}", markup=False)
    if not found.ok:
        failed = ", ".join(c.name for c in found.checks if not c.ok)
        raise CliError(f"installation qualification failed: {failed}")
