"""Whole simulated runs of the shipped scenarios: reproducible, sensitive to capacity, and
refusing a scenario that does not fit the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from definitions import CATALOG
from simulation.scenario import Scenario, load_scenario
from simulation.simulate import SimulationResult, simulate

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.fixture(scope="module")
def base() -> SimulationResult:
    return simulate(load_scenario(SCENARIOS / "network.toml"), CATALOG)


def _journeys(result: SimulationResult) -> list[tuple[object, ...]]:
    return [
        (j.batch_id, j.product, j.status, j.infused_h, tuple(j.deviations)) for j in result.journeys
    ]


def test_the_same_seed_gives_the_same_run(base: SimulationResult) -> None:
    again = simulate(load_scenario(SCENARIOS / "network.toml"), CATALOG)
    assert _journeys(again) == _journeys(base)
    other = simulate(load_scenario(SCENARIOS / "network.toml").with_seed(8), CATALOG)
    assert _journeys(other) != _journeys(base)


def test_a_year_of_the_example_network_infuses_most_patients(base: SimulationResult) -> None:
    patients = [j for j in base.journeys if j.window_end_h is not None]
    infused = [j for j in patients if j.infused_h is not None]
    assert len(patients) > 100
    assert len(infused) / len(patients) > 0.8
    assert all(j.infused_h is None or j.infused_h > j.arrived_h for j in patients)
    # Lots were released into inventory and patient orders drew doses from it.
    lots = [j for j in base.journeys if j.product == "allogeneic-cd19-donor-lot"]
    assert lots and any(j.status == "completed" for j in lots)
    assert any(j.product == "allogeneic-cd19-patient-order" and j.infused_h for j in patients)
    # The scenario's faults happened and QA disposed of them.
    kinds = {k for j in base.journeys for k, _ in j.deviations}
    assert {"temperature_excursion", "out_of_specification"} <= kinds


def test_one_more_lane_shortens_the_wait_for_a_slot(base: SimulationResult) -> None:
    more = simulate(load_scenario(SCENARIOS / "network-plus-lane.toml"), CATALOG)

    def east_wait(r: SimulationResult) -> float:
        east = [j for j in r.journeys if j.site == "MFG-EAST"]
        return sum(j.slot_wait_h for j in east) / len(east)

    assert east_wait(more) < east_wait(base)


def test_a_scenario_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    raw = (SCENARIOS / "network.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(raw.replace('manufacturing_site = "MFG-EAST"', 'manufacturing_site = "MFG-X"'))
    with pytest.raises(ValidationError, match="manufacturing_site names no plant"):
        load_scenario(bad)
    scenario = load_scenario(SCENARIOS / "network.toml")
    unknown = Scenario.model_validate(
        {**scenario.model_dump(), "lots": {"no-such-lot": {"site": "MFG-EAST", "every_days": 7}}}
    )
    with pytest.raises(ValueError, match="unknown product"):
        simulate(unknown, CATALOG)


def test_simulate_command_prints_the_summary_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vein2vein.cli import run_command

    report = tmp_path / "report.html"
    code = run_command(
        [
            "simulate",
            str(SCENARIOS / "network.toml"),
            "--compare",
            str(SCENARIOS / "network-plus-lane.toml"),
            "--report",
            str(report),
            "--seed",
            "3",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    for words in ("infused", "vein-to-vein p90", "MFG-EAST lanes", "difference", "seed 3"):
        assert words in printed
    html = report.read_text()
    assert html.count('src="data:image/png;base64,') == 4
    assert "+1 lane at MFG-EAST" in html and "difference" in html


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no scenario file"),
        ("name = [", "not TOML"),
        ("horizon_days = -1\n[sites]\n", "horizon_days"),
    ],
)
def test_simulate_refuses_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, needle: str
) -> None:
    from vein2vein.cli import run_command

    path = tmp_path / "scenario.toml"
    if content is not None:
        path.write_text(content)
    assert run_command(["simulate", str(path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
