"""`vein2vein simulate`: a year of a network in seconds, from the definitions it runs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulation.metrics import Summary, summarise
from simulation.report import compared, rows, write_report
from simulation.scenario import Scenario, load_scenario
from simulation.simulate import SimulationResult, simulate
from vein2vein.cli.common import CliError, catalog, command, err, out


def _load(path: Path, seed: int | None) -> Scenario:
    if not path.is_file():
        raise CliError(f"no scenario file {path}")
    return load_scenario(path).with_seed(seed)


def _run(scenario: Scenario, progress: Progress) -> tuple[Summary, SimulationResult]:
    task = progress.add_task(scenario.name, total=1.0)
    result = simulate(
        scenario, catalog(), progress=lambda done: progress.update(task, completed=done)
    )
    return summarise(result), result


@command
def simulate_command(
    scenario: Path = typer.Argument(
        ..., help="A scenario file (TOML), e.g. scenarios/network.toml"
    ),
    compare: Path | None = typer.Option(
        None, "--compare", help="A second scenario to run and show beside the first."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Write an HTML report with plots to this file."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenarios' seed."),
) -> None:
    """Simulate SCENARIO's network: patients infused, vein-to-vein time, slot and QA load,
    deviations and abandonments; --compare shows a second scenario and the difference."""
    # Every scenario is read and checked before anything runs: bad input is one line.
    scenarios = [_load(p, seed) for p in (scenario, compare) if p is not None]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        runs = [_run(s, progress) for s in scenarios]
    summaries = [s for s, _ in runs]
    table = Table("", *(s.scenario for s in summaries), title="Simulation")
    if len(summaries) == 2:
        table.add_column("difference")
        for label, a, b, diff in compared(*summaries):
            table.add_row(label, a, b, diff)
    else:
        for label, text, _ in rows(summaries[0]):
            table.add_row(label, text)
    out.print(table)
    for s in summaries:
        out.print(
            f"{s.scenario}: seed {s.seed}, {s.horizon_days:g} days, "
            f"{s.patients + s.lots} batches simulated in {s.wall_s:.1f} s",
            markup=False,
        )
    if report is not None:
        try:
            write_report(report, runs)
        except OSError as e:
            raise CliError(f"cannot write {report}: {e}") from e
        out.print(f"report written to {report}", markup=False)
